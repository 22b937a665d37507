package gatekit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResponseWriterNeverSends499AndTurnsStalledErrorsInto408(t *testing.T) {
	tests := []struct {
		name      string
		stalled   bool
		gone      bool // the client went away (the request's context is done)
		code      int
		wantCode  int  // what the client gets (httptest's 200 when nothing was written)
		wantAbort bool // the connection must be aborted instead
		wantBody  bool // the handler's body reaches the client
		logged    int  // the status recorded for the access log
	}{
		{"plain error", false, false, 502, 502, false, true, 502},
		{"client gone", false, true, 499, 200, true, false, 499},
		{"an upstream's own 499 to a client still there", false, false, 499, 499, false, true, 499},
		{"stalled body, error", true, false, 502, 408, false, false, 408},
		{"stalled body, 499", true, false, 499, 408, false, false, 408},
		{"stalled body, success", true, false, 200, 200, false, true, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.gone {
				cancel()
			}
			rw, _ := wrapWriter(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			rw.bodyStalled.Store(tc.stalled)
			rw.Header().Set("X-Handler", "1")
			rw.WriteHeader(tc.code)
			_, _ = rw.Write([]byte("handler body"))
			aborted := func() (aborted bool) {
				defer func() { aborted = recover() == http.ErrAbortHandler }()
				rw.finish()
				return false
			}()
			if rec.Code != tc.wantCode || aborted != tc.wantAbort || (rec.Body.String() == "handler body") != tc.wantBody {
				t.Errorf("client got %d %q, aborted %v; want %d, aborted %v, handler body %v", rec.Code, rec.Body, aborted, tc.wantCode, tc.wantAbort, tc.wantBody)
			}
			if tc.wantCode == 408 && (rec.Header().Get("X-Handler") != "" || rec.Header().Get("Connection") != "close") {
				t.Errorf("408 headers %v: want the handler's dropped and Connection: close", rec.Header())
			}
			if rw.status != tc.logged {
				t.Errorf("recorded status %d, want %d", rw.status, tc.logged)
			}
		})
	}
}
