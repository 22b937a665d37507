package balancer

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// benchPolicies returns every policy over pool, with the key each pick uses.
func benchPolicies(tb testing.TB, pool *Pool) []struct {
	name string
	p    Policy
	key  func(i int) string
} {
	tb.Helper()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = keyOf(i)
	}
	hashKey := func(i int) string { return keys[i&1023] }
	noKey := func(int) string { return "" }
	mk := func(name string, cfg PolicyConfig) Policy {
		p, err := NewPolicy(name, pool, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	sticky := mk("sticky", PolicyConfig{Sticky: StickyConfig{Secret: []byte("0123456789abcdef")}}).(*Sticky)
	tok := sticky.Token(pool.Targets()[0])
	return []struct {
		name string
		p    Policy
		key  func(i int) string
	}{
		{"round-robin", mk("round-robin", PolicyConfig{}), noKey},
		{"weighted-round-robin", mk("weighted-round-robin", PolicyConfig{}), noKey},
		{"least-request", mk("least-request", PolicyConfig{}), noKey},
		{"least-conn", mk("least-conn", PolicyConfig{}), noKey},
		{"random", mk("random", PolicyConfig{}), noKey},
		{"hash", mk("hash", PolicyConfig{}), hashKey},
		{"hash-bounded", mk("hash", PolicyConfig{Hash: HashConfig{BoundedLoad: 1.25}}), hashKey},
		{"ewma", mk("ewma", PolicyConfig{}), noKey},
		{"sticky", sticky, func(int) string { return tok }},
	}
}

// withWrappers adds, for each policy, the policy wrapped by Outlier.Wrap
// and by a Breaker (around the outlier wrapper).
func withWrappers(tb testing.TB, pool *Pool, ps []struct {
	name string
	p    Policy
	key  func(i int) string
}) []struct {
	name string
	p    Policy
	key  func(i int) string
} {
	out := ps
	for _, bp := range ps {
		o, err := NewOutlier(pool, OutlierConfig{})
		if err != nil {
			tb.Fatal(err)
		}
		b, err := NewBreaker(o.Wrap(bp.p), BreakerConfig{})
		if err != nil {
			tb.Fatal(err)
		}
		bp2, bp3 := bp, bp
		bp2.name, bp2.p = bp.name+"+outlier", o.Wrap(bp.p)
		bp3.name, bp3.p = bp.name+"+outlier+breaker", b
		out = append(out, bp2, bp3)
	}
	return out
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

// TestPickAllocatesNothing checks that pick plus done allocates nothing
// for every policy, once the policy's per-snapshot state is built, with
// equal and unequal weights at 3, 100 and 1,000 targets.
func TestPickAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, weights := range []string{"equal", "unequal"} {
		for _, n := range []int{3, 100, 1000} {
			pool := sizedPool(t, n)
			if weights == "unequal" {
				pool = unequalPool(t, n)
			}
			for _, bp := range withWrappers(t, pool, benchPolicies(t, pool)) {
				i := 0
				// Wrappers build a target's done function on its first
				// pick: pick every target first (random ones many times).
				for ; i < 20*n+1024; i++ {
					_, done, err := bp.p.Pick(context.Background(), bp.key(i))
					if err != nil {
						t.Fatal(err)
					}
					done(Result{Status: 200, Latency: time.Millisecond})
				}
				allocs := testing.AllocsPerRun(200, func() {
					_, done, err := bp.p.Pick(context.Background(), bp.key(i))
					if err != nil {
						t.Fatal(err)
					}
					done(Result{Status: 200, Latency: time.Millisecond})
					i++
				})
				if allocs != 0 {
					t.Errorf("%s, %s weights, %d targets: %.1f allocations per pick, want 0", bp.name, weights, n, allocs)
				}
			}
		}
	}
}

// BenchmarkPick measures one pick plus its done call, from parallel
// goroutines sharing the policy, at 3, 100 and 1,000 targets.
func BenchmarkPick(b *testing.B) {
	for _, n := range []int{3, 100, 1000} {
		pool := sizedPool(b, n)
		for _, bp := range benchPolicies(b, pool) {
			b.Run(fmt.Sprintf("%s/n=%d", bp.name, n), func(b *testing.B) {
				b.ReportAllocs()
				_, done, _ := bp.p.Pick(context.Background(), bp.key(0)) // build per-snapshot state
				done(Result{})
				parallelPicks(b, bp.p, bp.key)
			})
		}
	}
}

// BenchmarkMaglevBuild measures building a Maglev table, done once per
// pool change.
func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		s := sizedPool(b, n).load()
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buildMaglev(s.avail, s.weights, maglevSize(n))
			}
		})
	}
}

// BenchmarkPickUnequalWeights measures the weighted policies when weights
// differ (1 to 5), where they cannot take the equal-weights fast paths.
func BenchmarkPickUnequalWeights(b *testing.B) {
	for _, n := range []int{3, 100, 1000} {
		pool := unequalPool(b, n)
		for _, bp := range benchPolicies(b, pool) {
			switch bp.name {
			case "weighted-round-robin", "random", "hash":
			default:
				continue
			}
			b.Run(fmt.Sprintf("%s/n=%d", bp.name, n), func(b *testing.B) {
				b.ReportAllocs()
				parallelPicks(b, bp.p, bp.key)
			})
		}
	}
}

// BenchmarkHashBoundedWalk measures a bounded-load rendezvous pick when
// the key's preferred targets are full: the targets ranked first for the
// key, holding three quarters of the total weight, carry requests in
// flight beyond the 1.25 bound and the rest none, so each pick walks about
// 3n/4 targets in score order before one admits it. MaglevThreshold is
// raised so that every size uses rendezvous; "unequal" weights run 1 to 5.
func BenchmarkHashBoundedWalk(b *testing.B) {
	for _, weights := range []string{"equal", "unequal"} {
		for _, n := range []int{3, 64, 100, 1000} {
			var ups []Upstream
			for i := range n {
				w := 1
				if weights == "unequal" {
					w = 1 + i%5
				}
				ups = append(ups, Upstream{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.2.%d.%d:80", i/250, i%250)}, Weight: w})
			}
			pool, err := NewPool(ups)
			if err != nil {
				b.Fatal(err)
			}
			h, err := NewHash(pool, HashConfig{BoundedLoad: 1.25, MaglevThreshold: 1000})
			if err != nil {
				b.Fatal(err)
			}
			s, hk := pool.load(), hashString("hot")
			order := make([]int, n)
			for i := range order {
				order[i] = i
			}
			slices.SortFunc(order, func(i, j int) int {
				return cmp.Compare(rendezvousScore(s, j, hk), rendezvousScore(s, i, hk))
			})
			var full []*Target
			for sum := int64(0); ; {
				i := order[len(full)]
				if 4*(sum+s.weights[i]) > 3*s.total {
					break
				}
				sum += s.weights[i]
				full = append(full, s.avail[i])
			}
			for _, t := range full {
				t.inflight.Add(100 * t.weight.Load())
				pool.inflight.Add(100 * t.weight.Load())
			}
			b.Run(fmt.Sprintf("%s/n=%d", weights, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					t, done, err := h.Pick(context.Background(), "hot")
					if err != nil {
						b.Fatal(err)
					}
					if t.inflight.Load() > 1 {
						b.Fatalf("picked a full target, %d in flight", t.inflight.Load())
					}
					done(Result{Status: 200})
				}
				b.ReportMetric(float64(len(full)), "skipped/op")
			})
			for _, t := range full {
				t.inflight.Add(-100 * t.weight.Load())
				pool.inflight.Add(-100 * t.weight.Load())
			}
		}
	}
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
