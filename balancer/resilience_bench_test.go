package balancer

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkResilienceProxy measures a GET (and a 1 KiB POST) through the
// proxy to a loopback backend: with the default guarded transport and
// retries, with a plain http.Transport (no desync guard), and with the
// whole resilience stack (breaker, outlier detection, slow start).
func BenchmarkResilienceProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer be.Close()
	plain := func() http.RoundTripper {
		return &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 64,
			ResponseHeaderTimeout: 15 * time.Second, DisableCompression: true}
	}
	stack := func(p *Pool) Policy {
		o, _ := NewOutlier(NewRoundRobin(p), OutlierConfig{})
		s, _ := NewSlowStart(o, SlowStartConfig{})
		br, _ := NewBreaker(s, BreakerConfig{})
		return br
	}
	cases := []struct {
		name   string
		cfg    func() Config
		policy func(*Pool) Policy
		body   string
	}{
		{"guarded", func() Config { return Config{} }, func(p *Pool) Policy { return NewRoundRobin(p) }, ""},
		{"plain-transport", func() Config { return Config{Transport: plain()} }, func(p *Pool) Policy { return NewRoundRobin(p) }, ""},
		{"full-stack", func() Config { return Config{} }, stack, ""},
		{"guarded-post-1KiB", func() Config { return Config{} }, func(p *Pool) Policy { return NewRoundRobin(p) }, strings.Repeat("x", 1024)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			p := poolOf(b, be.URL)
			px, err := NewProxy(tc.policy(p), tc.cfg())
			if err != nil {
				b.Fatal(err)
			}
			defer px.Close()
			method := "GET"
			if tc.body != "" {
				method = "POST"
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var req *http.Request
					if tc.body != "" {
						req = httptest.NewRequest(method, "/", strings.NewReader(tc.body))
					} else {
						req = httptest.NewRequest(method, "/", nil)
					}
					rec := httptest.NewRecorder()
					px.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}

// BenchmarkOutlierFramer measures the desync guard's framing of one
// response, as bytes arrive in one read.
func BenchmarkOutlierFramer(b *testing.B) {
	body := strings.Repeat("x", 1024)
	for _, tc := range []struct{ name, resp string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 1024\r\n\r\n" + body},
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + body + "\r\n0\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(tc.resp)
			var f framer
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				f.start("GET")
				if n, err := f.feed(in); err != nil || n != len(in) || !f.done {
					b.Fatalf("feed = %d, %v", n, err)
				}
			}
		})
	}
}
