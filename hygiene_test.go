package gatekit

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/route"
)

func TestConnectionHeaderCannotStripGatewayHeaders(t *testing.T) {
	var got http.Header
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	})}}, Config{NewRequestID: func() string { return "gw-id" }})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set(RequestIDHeader, "client-id")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Add("Connection", "X-Request-ID, X-Secret-Hop")
	req.Header.Add("Connection", "Upgrade")
	in := req.Header.Clone()
	g.ServeHTTP(httptest.NewRecorder(), req)
	if got.Get(RequestIDHeader) != "gw-id" {
		t.Errorf("request ID upstream = %q, want the gateway's gw-id", got.Get(RequestIDHeader))
	}
	if got.Get("X-Secret-Hop") != "" {
		t.Errorf("a header named in Connection reached the handler")
	}
	if c := got.Values("Connection"); len(c) != 1 || c[0] != "Upgrade" {
		t.Errorf("Connection = %q, want only Upgrade", c)
	}
	if len(req.Header) != len(in) || req.Header.Get(RequestIDHeader) != "client-id" {
		t.Errorf("the inbound request's headers were modified: %v", req.Header)
	}
}

func TestHygieneLimitsBodySize(t *testing.T) {
	var readErr error
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	})}}, Config{Hygiene: HygieneConfig{MaxBodyBytes: 10}})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))))
	if rec.Code != 413 {
		t.Errorf("declared 11 bytes over a 10-byte cap: status %d, want 413", rec.Code)
	}
	req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(strings.Repeat("x", 11))))
	req.ContentLength = -1
	g.ServeHTTP(httptest.NewRecorder(), req)
	var mbe *http.MaxBytesError
	if !errors.As(readErr, &mbe) {
		t.Errorf("undeclared 11 bytes over a 10-byte cap: read error %v, want *http.MaxBytesError", readErr)
	}
	readErr = nil
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader("0123456789")))
	if readErr != nil {
		t.Errorf("10 bytes under a 10-byte cap: %v", readErr)
	}
}

func TestHygieneRejectsOversizedAndUnderscoreRequests(t *testing.T) {
	reached := false
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })}}, Config{})
	many := httptest.NewRequest("GET", "/", nil)
	for i := range 101 {
		many.Header.Add("X-H", string(rune('a'+i%26)))
	}
	under := httptest.NewRequest("GET", "/", nil)
	under.Header["X_Forwarded_For"] = []string{"6.6.6.6"}
	long := httptest.NewRequest("GET", "/?q="+strings.Repeat("a", DefaultMaxURILength), nil)
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"too many headers", many, 431},
		{"underscore header", under, 400},
		{"long target", long, 414},
		{"PRI method", httptest.NewRequest("PRI", "*", nil), 400},
		{"asterisk-form GET", httptest.NewRequest("GET", "*", nil), 400},
		{"ok", httptest.NewRequest("GET", "/", nil), 200},
	}
	for _, tc := range tests {
		reached = false
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, tc.req)
		if rec.Code != tc.want || reached != (tc.want == 200) {
			t.Errorf("%s: status %d reached %v, want %d", tc.name, rec.Code, reached, tc.want)
		}
	}
	lax := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}},
		Config{Hygiene: HygieneConfig{InsecureAllowUnderscoreHeaders: true}})
	rec := httptest.NewRecorder()
	lax.ServeHTTP(rec, under)
	if rec.Code != 200 {
		t.Errorf("InsecureAllowUnderscoreHeaders: status %d", rec.Code)
	}
}

// FuzzConsumeConnection checks that after consumeConnection no header the
// client named in Connection is left, and Connection is gone or exactly
// "Upgrade".
func FuzzConsumeConnection(f *testing.F) {
	f.Add("X-Request-ID, X-Secret", "X-Request-ID", "keep")
	f.Add("close", "Keep-Alive", "timeout=5")
	f.Add("Upgrade, keep-alive", "Upgrade", "websocket")
	f.Add(", ,x-a,,", "X-A", "1")
	f.Fuzz(func(t *testing.T, conn, name, value string) {
		h := http.Header{}
		h.Add("Connection", conn)
		if name != "" {
			h[http.CanonicalHeaderKey(name)] = []string{value}
		}
		consumeConnection(h, "")
		if vs := h.Values("Connection"); len(vs) > 0 && (len(vs) != 1 || vs[0] != "Upgrade") {
			t.Fatalf("Connection left as %q", vs)
		}
		for tok := range strings.SplitSeq(conn, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || strings.EqualFold(tok, "upgrade") || strings.EqualFold(tok, "connection") {
				continue
			}
			if _, ok := h[http.CanonicalHeaderKey(tok)]; ok {
				t.Fatalf("Connection: %q named %q, still present: %v", conn, tok, h)
			}
		}
	})
}
