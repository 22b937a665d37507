package gatekit

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkServerHandler is the Server's per-request work around the
// user's handler: the framing verdict, the header size and request-target
// checks and the response writer with its write idle deadline.
func BenchmarkServerHandler(b *testing.B) {
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.HTTPServer().Handler
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/hello", nil)
		req.Header.Set("User-Agent", "bench")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

func TestHeaderSizeCountsWhatMaxHeaderBytesBounds(t *testing.T) {
	raw := "GET /items/7?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\nX-A: 1\r\nX-A: 22\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := headerSize(r), len(raw)-2; got != want {
		t.Errorf("headerSize = %d, want %d (the head without its final CRLF)", got, want)
	}
}

func TestGRPCStreamsAreExemptFromTheBodyReadIdleTimeout(t *testing.T) {
	tests := []struct {
		proto int
		ct    string
		want  bool
	}{
		{2, "application/grpc", true},
		{2, "application/grpc+proto", true},
		{1, "application/grpc", false}, // gRPC is HTTP/2 only
		{2, "application/json", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "/svc/Method", nil)
		r.ProtoMajor = tc.proto
		r.Header.Set("Content-Type", tc.ct)
		if got := isGRPC(r); got != tc.want {
			t.Errorf("HTTP/%d %s: isGRPC = %v, want %v", tc.proto, tc.ct, got, tc.want)
		}
	}
}
