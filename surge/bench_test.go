package surge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkAcquireRelease is the limiter's cost per request: one slot
// taken and given back, with its latency sampled.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, algo := range algorithms {
		b.Run(algo.String(), func(b *testing.B) {
			l := mustLimiter(b, LimiterConfig{Algorithm: algo, MaxLimit: 1 << 20, InitialLimit: 1 << 20})
			ctx := context.Background()
			b.Run("uncontended", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					tok, err := l.Acquire(ctx, Normal)
					if err != nil {
						b.Fatal(err)
					}
					tok.Release(Success)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						tok, err := l.Acquire(ctx, Normal)
						if err != nil {
							b.Error(err)
							return
						}
						tok.Release(Success)
					}
				})
			})
		})
	}
}

// BenchmarkTryAcquireAt is the engine with injected time, no clock reads.
func BenchmarkTryAcquireAt(b *testing.B) {
	l := mustLimiter(b, LimiterConfig{MaxLimit: 1 << 20, InitialLimit: 1 << 20})
	b.ReportAllocs()
	now := t0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		tok, err := l.TryAcquireAt(now)
		if err != nil {
			b.Fatal(err)
		}
		tok.ReleaseAt(now.Add(time.Millisecond), Success)
	}
}

// BenchmarkShed is the cost of turning a request away at the engine.
func BenchmarkShed(b *testing.B) {
	l := mustLimiter(b, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.TryAcquire(); err == nil {
				b.Error("admitted over the limit")
				return
			}
		}
	})
}

// BenchmarkMiddleware is the adapter around an empty handler.
func BenchmarkMiddleware(b *testing.B) {
	l := mustLimiter(b, LimiterConfig{MaxLimit: 1 << 20, InitialLimit: 1 << 20})
	h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}
