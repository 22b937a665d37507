package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// benchWriter is a minimal reusable http.ResponseWriter.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

func benchHandler(b *testing.B, store Store, size int) http.Handler {
	c, err := New(store, Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	body := make([]byte, size)
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/item?id=1", nil))
	if rs, ok := store.(*RistrettoStore); ok {
		rs.Wait()
	}
	return h
}

// BenchmarkMiddlewareHit measures a whole cache hit through the
// middleware: key, lookup, freshness, header copy, Age, Cache-Status, body.
func BenchmarkMiddlewareHit(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		for _, kind := range []string{"ristretto", "memory"} {
			b.Run(kind+"/"+strconv.Itoa(size), func(b *testing.B) {
				var store Store = NewMemoryStore(0, nil)
				if kind == "ristretto" {
					rs, err := NewRistrettoStore(64<<20, 0)
					if err != nil {
						b.Fatal(err)
					}
					store = rs
				}
				h := benchHandler(b, store, size)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					r := httptest.NewRequest("GET", "http://example.com/item?id=1", nil)
					w := &benchWriter{h: make(http.Header)}
					for pb.Next() {
						w.reset()
						h.ServeHTTP(w, r)
						if w.code != 200 || w.n != size {
							b.Fatalf("got %d, %d bytes", w.code, w.n)
						}
					}
				})
			})
		}
	}
}

// BenchmarkMissAndStore measures a miss that stores: the origin is an
// in-process handler, so this is the cache's own overhead per fill.
func BenchmarkMissAndStore(b *testing.B) {
	c, err := New(NewMemoryStore(0, nil), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		io.WriteString(w, "0123456789abcdef")
	}))
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.reset()
		r := httptest.NewRequest("GET", "http://example.com/item?id="+strconv.Itoa(i), nil)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkEngineGet measures the engine lookup alone.
func BenchmarkEngineGet(b *testing.B) {
	c, err := New(NewMemoryStore(0, nil), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, "GET http://example.com/", &Entry{Variants: []*Response{{Status: 200, Lifetime: 3600e9, ResponseTime: c.now()}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(ctx, "GET http://example.com/"); !ok {
			b.Fatal("miss")
		}
	}
}
