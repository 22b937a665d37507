package balancer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func poolOf(t testing.TB, urls ...string) *Pool {
	t.Helper()
	ups, err := ParseUpstreams(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder wraps a policy and records the results passed to done.
type recorder struct {
	Policy
	mu      sync.Mutex
	results []Result
}

func (rp *recorder) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	t, done, err := rp.Policy.Pick(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	return t, func(r Result) {
		rp.mu.Lock()
		rp.results = append(rp.results, r)
		rp.mu.Unlock()
		done(r)
	}, nil
}

// waitFor polls cond until it holds or d has passed, for state another
// goroutine changes; it reports whether cond held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// lockedWriter serialises writes from concurrent log calls.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func slogTo(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu: mu, w: w}, nil))
}

// weightedPool returns a pool of targets named a, b, c, ... with weights.
func weightedPool(t testing.TB, weights ...int) *Pool {
	t.Helper()
	var ups []Upstream
	for i, w := range weights {
		ups = append(ups, Upstream{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("%c.test:80", 'a'+i)}, Weight: w})
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sizedPool returns a pool of n equal targets.
func sizedPool(t testing.TB, n int) *Pool {
	t.Helper()
	var ups []Upstream
	for i := range n {
		ups = append(ups, Upstream{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250)}})
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func name(t *Target) string { return t.URL().Hostname()[:1] }

// picks returns the names of n picks, each released at once.
func picks(t *testing.T, p Policy, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		tg, done, err := p.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(name(tg))
		done(Result{Status: 200})
	}
	return b.String()
}

// isRotation reports whether got is a prefix of cycle repeated, from some offset.
func isRotation(got, cycle string) bool {
	rep := strings.Repeat(cycle, len(got)/len(cycle)+2)
	for off := range len(cycle) {
		if strings.HasPrefix(rep[off:], got) {
			return true
		}
	}
	return false
}

// shares returns the fraction of n picks that went to each target name.
func shares(t *testing.T, p Policy, n int, key func(i int) string) map[string]float64 {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		k := ""
		if key != nil {
			k = key(i)
		}
		tg, done, err := p.Pick(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		counts[name(tg)]++
		done(Result{Status: 200, Latency: time.Millisecond})
	}
	out := map[string]float64{}
	for k, c := range counts {
		out[k] = float64(c) / float64(n)
	}
	return out
}

func checkShares(t *testing.T, got map[string]float64, want map[string]float64, tol float64) {
	t.Helper()
	for k, w := range want {
		if math.Abs(got[k]-w) > tol {
			t.Errorf("share of %s = %.3f, want %.3f ± %.3f (all: %v)", k, got[k], w, tol, got)
		}
	}
}

// unequalPool returns a pool of n targets with weights 1 to 5.
func unequalPool(tb testing.TB, n int) *Pool {
	tb.Helper()
	var ups []Upstream
	for i := range n {
		ups = append(ups, Upstream{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.1.%d.%d:80", i/250, i%250)}, Weight: 1 + i%5})
	}
	pool, err := NewPool(ups)
	if err != nil {
		tb.Fatal(err)
	}
	return pool
}

// parallelPicks runs picks of p, each with its done call, on all
// goroutines of b; key gives the key of the i-th pick of a goroutine.
func parallelPicks(b *testing.B, p Policy, key func(int) string) {
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, done, err := p.Pick(context.Background(), key(i))
			if err != nil {
				b.Fatal(err)
			}
			done(Result{Status: 200, Latency: time.Millisecond})
			i++
		}
	})
}
