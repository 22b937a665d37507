package gatekit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/route"
)

func TestAssignRequestIDKeepsOnlyWellFormedIDs(t *testing.T) {
	var seen, seenCtx string
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenCtx = r.Header.Get(RequestIDHeader), RequestID(r.Context())
	})}}, Config{NewRequestID: func() string { return "generated" }})
	tests := []struct{ in, want string }{
		{"", "generated"},
		{"abc-123_x.y:z", "abc-123_x.y:z"},
		{"bad id with spaces", "generated"},
		{"<script>", "generated"},
		{strings.Repeat("a", 129), "generated"},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.in != "" {
			req.Header.Set(RequestIDHeader, tc.in)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if got := rec.Header().Get(RequestIDHeader); got != tc.want || seen != tc.want || seenCtx != tc.want {
			t.Errorf("X-Request-ID %q: response %q, upstream %q, context %q; want %q", tc.in, got, seen, seenCtx, tc.want)
		}
	}
	if id := randomID(); len(id) != 32 || !validRequestID(id) {
		t.Errorf("randomID() = %q", id)
	}
}
