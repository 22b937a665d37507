package gatekit

import (
	"github.com/gatekit/gatekit/route"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGatewayChain measures the global chain (recovery, request ID,
// hygiene checks, client IP, routing) around an empty handler, without logging.
func BenchmarkGatewayChain(b *testing.B) {
	g, err := New([]route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}}, Config{
		NewRequestID: func() string { return "fixed" },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/hello", nil)
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			g.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
