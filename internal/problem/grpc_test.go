package problem

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func grpcRequest(ct string) *http.Request {
	r := httptest.NewRequest("POST", "/pkg.Svc/Method", nil)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestGRPCWriterTurnsProblemsIntoGRPCStatuses(t *testing.T) {
	tests := []struct {
		name        string
		write       func(w http.ResponseWriter)
		wantStatus  string
		wantMessage string
		wantPush    string
	}{
		{"rate limited with Retry-After", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3")
			Write(w, http.StatusTooManyRequests, "slow down")
		}, "8", "slow down", "3000"},
		{"no target", func(w http.ResponseWriter) { Write(w, http.StatusServiceUnavailable, "no upstream") }, "14", "no upstream", ""},
		{"timeout", func(w http.ResponseWriter) { Write(w, http.StatusGatewayTimeout, "") }, "4", "Gateway Timeout", ""},
		{"validation", func(w http.ResponseWriter) { Write(w, http.StatusBadRequest, "field x: 100% wrong ✓") }, "3", "field x: 100%25 wrong %E2%9C%93", ""},
		{"no route", func(w http.ResponseWriter) { Write(w, http.StatusNotFound, "") }, "12", "Not Found", ""},
		{"flushed before the body is complete", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ContentType)
			w.WriteHeader(http.StatusBadGateway)
			w.(http.Flusher).Flush()
			w.Write([]byte(`{"detail":"late"}`))
		}, "14", "Bad Gateway", ""},
		{"no Content-Length: sent by finish", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", ContentType)
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"title":"Service Unavailable","detail":"shed"}`))
		}, "14", "shed", "35"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w, finish := GRPCWriter(rec, grpcRequest("application/grpc+proto"))
			tc.write(w)
			finish()
			h := rec.Header()
			if rec.Code != 200 || h.Get("Content-Type") != "application/grpc" || rec.Body.Len() != 0 {
				t.Fatalf("response = %d %q body %q, want 200 application/grpc without body", rec.Code, h.Get("Content-Type"), rec.Body)
			}
			if h.Get("Grpc-Status") != tc.wantStatus || h.Get("Grpc-Message") != tc.wantMessage {
				t.Errorf("grpc-status %q grpc-message %q, want %q %q", h.Get("Grpc-Status"), h.Get("Grpc-Message"), tc.wantStatus, tc.wantMessage)
			}
			push := h.Get("Grpc-Retry-Pushback-Ms")
			if len(tc.wantPush) > 0 && (len(push) < len(tc.wantPush) || push[:len(tc.wantPush)] != tc.wantPush) {
				t.Errorf("grpc-retry-pushback-ms = %q, want %s…", push, tc.wantPush)
			}
			if tc.wantPush == "" && push != "" {
				t.Errorf("grpc-retry-pushback-ms = %q without Retry-After", push)
			}
			if h.Get("Retry-After") != "" || h.Get("Content-Length") != "" {
				t.Errorf("HTTP-only headers left: %v", h)
			}
		})
	}
}

func TestGRPCWriterPassesOtherResponsesThrough(t *testing.T) {
	tests := []struct {
		name, ct string
		status   int
		respCT   string
		wantBody string
		wantWrap bool
		wantCode int
	}{
		{"gRPC response", "application/grpc", 200, "application/grpc", "\x00\x00\x00\x00\x00", true, 200},
		{"target's own HTTP error to a gRPC caller", "application/grpc", 503, "text/html", "down", true, 503},
		{"not a gRPC request", "application/json", 429, ContentType, "{}", false, 429},
		{"no content type", "", 429, ContentType, "{}", false, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w, finish := GRPCWriter(rec, grpcRequest(tc.ct))
			if _, wrapped := w.(*grpcWriter); wrapped != tc.wantWrap {
				t.Fatalf("wrapped = %v, want %v", wrapped, tc.wantWrap)
			}
			w.Header().Set("Content-Type", tc.respCT)
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.wantBody))
			finish()
			if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody || rec.Header().Get("Grpc-Status") != "" {
				t.Errorf("response = %d %q %v", rec.Code, rec.Body, rec.Header())
			}
		})
	}
}

func TestGRPCWriterWrapsOnce(t *testing.T) {
	r := grpcRequest("application/grpc")
	w1, _ := GRPCWriter(httptest.NewRecorder(), r)
	w2, _ := GRPCWriter(unwrapper{w1}, r)
	if _, ok := w2.(*grpcWriter); ok {
		t.Fatal("GRPCWriter wrapped a writer that already wraps one")
	}
}

type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestGRPCCode(t *testing.T) {
	for status, want := range map[int]int{200: 0, 400: 3, 401: 16, 403: 7, 404: 12, 405: 12, 408: 4, 413: 8, 415: 3,
		418: 9, 429: 8, 431: 8, 499: 1, 500: 13, 501: 12, 502: 14, 503: 14, 504: 4, 505: 2} {
		if got := GRPCCode(status); got != want {
			t.Errorf("GRPCCode(%d) = %d, want %d", status, got, want)
		}
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{"application/grpc": true, "application/grpc+proto": true, "Application/GRPC-web": true,
		"application/json": false, "": false, "application/grp": false} {
		if got := IsGRPC(grpcRequest(ct)); got != want {
			t.Errorf("IsGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}

func BenchmarkGRPCWriterProblem(b *testing.B) {
	b.ReportAllocs()
	r := grpcRequest("application/grpc")
	for b.Loop() {
		rec := httptest.NewRecorder()
		w, finish := GRPCWriter(rec, r)
		w.Header().Set("Retry-After", "1")
		Write(w, http.StatusTooManyRequests, "slow down")
		finish()
	}
}
