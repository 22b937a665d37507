package validate

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompressedResponseNotValidated(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, `{"status":"ok"}`)
	_ = zw.Close()
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
		skipped        uint64
	}{
		{"gzip valid", "gzip", gz.Bytes(), 200, 1},
		{"gzip with identity", "identity, gzip", gz.Bytes(), 200, 1},
		{"identity invalid", "identity", []byte(`{"status":"on fire"}`), 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newShop(t, Config{Responses: ResponseReject})
			h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", tc.encoding)
				_, _ = w.Write(tc.body)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %q", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && !bytes.Equal(rec.Body.Bytes(), tc.body) {
				t.Errorf("body changed: %q", rec.Body)
			}
			if s := v.Stats(); s.SkippedResponses != tc.skipped {
				t.Errorf("SkippedResponses = %d, want %d", s.SkippedResponses, tc.skipped)
			}
		})
	}
}

func TestResponseValidation(t *testing.T) {
	bad := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "1")
		_, _ = io.WriteString(w, `{"status":"on fire"}`)
	})
	good := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	tests := []struct {
		name    string
		mode    ResponseMode
		h       http.Handler
		status  int
		logged  bool
		backend string
	}{
		{"off", ResponseOff, bad, 200, false, "1"},
		{"log", ResponseLog, bad, 200, true, "1"},
		{"reject", ResponseReject, bad, 502, true, ""},
		{"reject passes valid", ResponseReject, good, 200, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			v := newShop(t, Config{Responses: tc.mode, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			rec := httptest.NewRecorder()
			Middleware(v)(tc.h).ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if got := logs.Len() > 0; got != tc.logged {
				t.Errorf("logged = %v, want %v: %s", got, tc.logged, logs.String())
			}
			if rec.Header().Get("X-Backend") != tc.backend {
				t.Errorf("X-Backend = %q, want %q", rec.Header().Get("X-Backend"), tc.backend)
			}
			if tc.status == 502 {
				decodeProblem(t, rec)
			}
		})
	}
}

func TestResponseValidationStreamsLargeAndFlushed(t *testing.T) {
	v := newShop(t, Config{Responses: ResponseReject, MaxResponseBytes: 8})
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"not a valid status at all"}`)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "not a valid") {
		t.Fatalf("large response: %d %q, want streamed unvalidated", rec.Code, rec.Body)
	}
	v = newShop(t, Config{Responses: ResponseReject})
	h = Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: 1\n\n")
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "data: 2\n\n")
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
	if !rec.Flushed || rec.Body.String() != "data: 1\n\ndata: 2\n\n" {
		t.Fatalf("flushed=%v body %q", rec.Flushed, rec.Body)
	}
}
