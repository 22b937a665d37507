package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// onlyReader hides everything but Read (so the length is unknown).
type onlyReader struct{ io.Reader }

func (onlyReader) Close() error { return nil }

func TestReplayBody(t *testing.T) {
	const limit = 64 << 10
	big := strings.Repeat("x", limit+10)
	cases := []struct {
		name     string
		body     string
		cl       int64
		limit    int64
		full     bool
		maxAlloc int // largest acceptable buffer capacity
		wantErr  bool
	}{
		{"small, unknown length: grows, no 64 KiB buffer", "hello", -1, limit, true, 1024, false},
		{"empty, unknown length", "", -1, limit, true, 1024, false},
		{"exactly the limit, unknown length", big[:limit], -1, limit, true, 2 * limit, false},
		{"over the limit, unknown length: streamed", big, -1, limit, false, 2 * limit, false},
		{"known length", "hello", 5, limit, true, 5, false},
		{"known length over the limit: streamed", big, int64(len(big)), limit, false, 0, false},
		{"never buffer", "hello", 5, -1, false, 0, false},
		{"short body", "hel", 5, limit, false, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rb, err := newReplayBody(onlyReader{strings.NewReader(tc.body)}, tc.cl, tc.limit)
			if tc.wantErr {
				var cbe *ClientBodyError
				if !errors.As(err, &cbe) {
					t.Fatalf("err %v, want a ClientBodyError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rb.full != tc.full || cap(rb.buf) > tc.maxAlloc {
				t.Fatalf("full %v (want %v), buffer capacity %d (want at most %d)", rb.full, tc.full, cap(rb.buf), tc.maxAlloc)
			}
			for try := range 2 {
				req := &http.Request{}
				rb.attempt(req, true)
				got, err := io.ReadAll(req.Body)
				if err != nil || string(got) != tc.body {
					t.Fatalf("attempt %d read %d bytes (err %v), want the whole body (%d)", try, len(got), err, len(tc.body))
				}
				if rb.rewindable() != tc.full {
					t.Fatalf("rewindable after a read: %v, want %v", rb.rewindable(), tc.full)
				}
				if !tc.full {
					break // a streamed body is sent once
				}
			}
		})
	}
}

// TestNoBufferingWithoutRetries: with retries disabled the request body is
// streamed to the target as it arrives, never held back in a buffer.
func TestNoBufferingWithoutRetries(t *testing.T) {
	got := make(chan string, 1)
	be := newRawHandlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		io.ReadFull(r.Body, buf)
		got <- string(buf)
		io.Copy(io.Discard, r.Body)
	})
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{Retry: RetryConfig{Retries: -1}})
	pr, pw := io.Pipe()
	req := httptest.NewRequest("POST", "/", pr)
	req.ContentLength = -1 // unknown length
	done := make(chan int, 1)
	go func() { done <- serve(px, req).Code }()
	go pw.Write([]byte("hello"))
	select {
	case code := <-done:
		t.Fatalf("request ended with %d before its body did", code)
	case s := <-got:
		if s != "hello" {
			t.Fatalf("target read %q", s)
		}
	case <-time.After(10 * time.Second):
		pw.Close()
		<-done
		t.Fatal("the target saw nothing of a body still being sent: it was buffered")
	}
	pw.Close()
	if code := <-done; code != 200 {
		t.Fatalf("status %d", code)
	}
}

func newRawHandlerServer(t *testing.T, h http.HandlerFunc) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
