package balancer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// allPolicies returns one of each policy over pool.
func allPolicies(t testing.TB, pool *Pool) map[string]Policy {
	t.Helper()
	out := map[string]Policy{}
	for _, n := range PolicyNames() {
		p, err := NewPolicy(n, pool, PolicyConfig{Hash: HashConfig{BoundedLoad: 1.25}})
		if err != nil {
			t.Fatal(err)
		}
		out[n] = p
	}
	h, err := NewHash(pool, HashConfig{MaglevThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	out["hash-maglev"] = h
	return out
}

func TestEmptyAndUnavailablePools(t *testing.T) {
	empty, _ := NewPool(nil)
	down := weightedPool(t, 1, 1)
	for _, tg := range down.Targets() {
		down.SetHealthy(tg, false)
	}
	for pname, pool := range map[string]*Pool{"empty": empty, "all unhealthy": down, "nil": nil} {
		for name, p := range allPolicies(t, pool) {
			for _, key := range []string{"", "k"} {
				if _, _, err := p.Pick(context.Background(), key); !errors.Is(err, ErrNoTargets) {
					t.Errorf("%s pool, %s.Pick(context.Background(), %q) error = %v, want ErrNoTargets", pname, name, key, err)
				}
			}
		}
	}
}

func TestNewPolicyNames(t *testing.T) {
	pool := weightedPool(t, 1)
	for name, want := range map[string]string{
		"": "*balancer.LeastRequest", "P2C": "*balancer.LeastRequest", "rr": "*balancer.RoundRobin",
		"wrr": "*balancer.WeightedRoundRobin", "least-connections": "*balancer.LeastConn",
		"random": "*balancer.Random", "consistent-hash": "*balancer.Hash", "peak-ewma": "*balancer.PeakEWMA",
		"sticky": "*balancer.Sticky",
	} {
		p, err := NewPolicy(name, pool, PolicyConfig{})
		if err != nil {
			t.Fatalf("NewPolicy(%q): %v", name, err)
		}
		if got := fmt.Sprintf("%T", p); got != want {
			t.Errorf("NewPolicy(%q) = %s, want %s", name, got, want)
		}
	}
	for _, bad := range []string{"fastest", "round robin"} {
		if _, err := NewPolicy(bad, pool, PolicyConfig{}); err == nil {
			t.Errorf("NewPolicy(%q) succeeded", bad)
		}
	}
	if _, err := NewPolicy("least-request", pool, PolicyConfig{Load: LoadConfig{Decay: -1}}); err == nil {
		t.Error("negative Decay accepted")
	}
}

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
		o, err := NewOutlier(bp.p, OutlierConfig{})
		if err != nil {
			tb.Fatal(err)
		}
		b, err := NewBreaker(o, BreakerConfig{})
		if err != nil {
			tb.Fatal(err)
		}
		bp2, bp3 := bp, bp
		bp2.name, bp2.p = bp.name+"+outlier", o
		bp3.name, bp3.p = bp.name+"+outlier+breaker", b
		out = append(out, bp2, bp3)
	}
	return out
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
