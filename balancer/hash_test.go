package balancer

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"testing"
)

func keyOf(i int) string { return fmt.Sprintf("user-%d", i) }

// mapping returns the target ID each of n keys maps to.
func mapping(t *testing.T, h *Hash, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		tg, done, err := h.Pick(context.Background(), keyOf(i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tg.ID()
		done(Result{Status: 200})
	}
	return out
}

func TestHashRemapsFewKeysWhenTargetsChange(t *testing.T) {
	const keys = 20000
	tests := []struct {
		name      string
		n         int
		threshold int
		exact     bool // rendezvous: only the removed target's keys move
	}{
		{"rendezvous/10", 10, 0, true},
		{"maglev/10", 10, -1, false},
		{"maglev/100", 100, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := sizedPool(t, tc.n)
			h, err := NewHash(pool, HashConfig{MaglevThreshold: tc.threshold})
			if err != nil {
				t.Fatal(err)
			}
			before := mapping(t, h, keys)
			if again := mapping(t, h, keys); fmt.Sprint(again) != fmt.Sprint(before) {
				t.Fatal("the same keys mapped differently on an unchanged pool")
			}
			removed := pool.Targets()[tc.n/2]
			pool.Remove(removed.URL())
			after := mapping(t, h, keys)
			moved, movedOthers := 0, 0
			for i := range before {
				if before[i] != after[i] {
					moved++
					if before[i] != removed.ID() {
						movedOthers++
					}
				}
				if after[i] == removed.ID() {
					t.Fatal("a key still maps to the removed target")
				}
			}
			frac, want := float64(moved)/keys, 1/float64(tc.n)
			t.Logf("removing 1 of %d moved %.4f of keys (%d not on the removed target)", tc.n, frac, movedOthers)
			if frac < 0.6*want || frac > 1.6*want {
				t.Errorf("removing 1 of %d moved %.4f of keys, want about %.4f", tc.n, frac, want)
			}
			if tc.exact && movedOthers != 0 {
				t.Errorf("%d keys not on the removed target moved", movedOthers)
			}
			// Adding a target moves about 1/(N+1) of the keys; with
			// rendezvous every one of them moves onto the new target.
			nt, err := pool.Add(Upstream{URL: &url.URL{Scheme: "http", Host: "new.test:80"}})
			if err != nil {
				t.Fatal(err)
			}
			added := mapping(t, h, keys)
			moved, movedOthers = 0, 0
			for i := range after {
				if after[i] != added[i] {
					moved++
					if added[i] != nt.ID() {
						movedOthers++
					}
				}
			}
			frac, want = float64(moved)/keys, 1/float64(tc.n)
			t.Logf("adding 1 to %d moved %.4f of keys (%d not onto the new target)", tc.n-1, frac, movedOthers)
			if frac < 0.6*want || frac > 1.6*want {
				t.Errorf("adding 1 to %d moved %.4f of keys, want about %.4f", tc.n-1, frac, want)
			}
			if tc.exact && movedOthers != 0 {
				t.Errorf("%d keys moved between existing targets instead of onto the new one", movedOthers)
			}
		})
	}
}

func TestHashSharesFollowWeights(t *testing.T) {
	for _, threshold := range []int{0, -1} {
		h, err := NewHash(weightedPool(t, 1, 3), HashConfig{MaglevThreshold: threshold})
		if err != nil {
			t.Fatal(err)
		}
		got := shares(t, h, 20000, keyOf)
		checkShares(t, got, map[string]float64{"a": 0.25, "b": 0.75}, 0.02)
	}
}

func TestHashWithoutKeyUsesFallback(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1)
	h, err := NewHash(pool, HashConfig{Fallback: NewRoundRobin(pool)})
	if err != nil {
		t.Fatal(err)
	}
	if got := picks(t, h, 6); !isRotation(got, "abc") {
		t.Errorf("keyless picks = %q, want the round-robin fallback's rotation of abc", got)
	}
}

// TestHashBoundedLoadCapsHotKeys holds 3,000 requests in flight with keys drawn from
// a Zipf distribution (a few very hot keys) and checks no target exceeds
// the bound, while without the bound the hottest target does.
func TestHashBoundedLoadCapsHotKeys(t *testing.T) {
	const n, inflight, c = 10, 3000, 1.25
	for _, tc := range []struct {
		name      string
		threshold int
	}{{"rendezvous", 0}, {"maglev", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			maxLoad := func(bound float64) int64 {
				pool := sizedPool(t, n)
				h, err := NewHash(pool, HashConfig{BoundedLoad: bound, MaglevThreshold: tc.threshold})
				if err != nil {
					t.Fatal(err)
				}
				z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 10000)
				var dones []func(Result)
				for range inflight {
					_, done, err := h.Pick(context.Background(), keyOf(int(z.Uint64())))
					if err != nil {
						t.Fatal(err)
					}
					dones = append(dones, done)
				}
				var m int64
				for _, tg := range pool.Targets() {
					m = max(m, tg.InFlight())
				}
				for _, d := range dones {
					d(Result{Status: 200})
				}
				if pool.InFlight() != 0 {
					t.Fatalf("in flight after release = %d", pool.InFlight())
				}
				return m
			}
			limit := int64(math.Ceil(c * inflight / n))
			unbounded, bounded := maxLoad(0), maxLoad(c)
			t.Logf("max in flight per target: %d unbounded, %d bounded (limit %d)", unbounded, bounded, limit)
			if bounded > limit {
				t.Errorf("bounded max in flight %d > %d", bounded, limit)
			}
			if unbounded <= limit {
				t.Errorf("unbounded max in flight %d <= %d: the Zipf keys are not skewed enough to test anything", unbounded, limit)
			}
		})
	}
}

func TestMaglevTableBalanced(t *testing.T) {
	pool := sizedPool(t, 7)
	s := pool.load()
	const m = 65537
	table := buildMaglev(s.avail, s.weights, m)
	counts := make([]int, len(s.avail))
	for _, i := range table {
		if i < 0 {
			t.Fatal("unfilled slot")
		}
		counts[i]++
	}
	for i, c := range counts {
		if math.Abs(float64(c)-m/7.0) > 2 {
			t.Errorf("target %d holds %d slots, want %.0f ± 2", i, c, m/7.0)
		}
	}
}

func TestNewHashErrors(t *testing.T) {
	for _, b := range []float64{0.5, -1, math.NaN(), math.Inf(1)} {
		if _, err := NewHash(sizedPool(t, 2), HashConfig{BoundedLoad: b}); err == nil {
			t.Errorf("NewHash(BoundedLoad: %v) succeeded", b)
		}
	}
	if _, err := NewHash(weightedPool(t, 1), HashConfig{Fallback: NewRoundRobin(weightedPool(t, 1))}); err == nil {
		t.Error("NewHash accepted a fallback over another pool")
	}
}

// TestMaglevPicksFromPreviousTableWhileRebuilding checks that while a new table is being built,
// picks use the previous one and skip targets no longer available.
func TestMaglevPicksFromPreviousTableWhileRebuilding(t *testing.T) {
	pool := sizedPool(t, 5)
	h, err := NewHash(pool, HashConfig{MaglevThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	before := mapping(t, h, 2000)
	gone := pool.Targets()[2]
	pool.Remove(gone.URL())
	h.maglev.mu.Lock() // a rebuild is in progress
	stale := mapping(t, h, 2000)
	h.maglev.mu.Unlock()
	for i := range stale {
		if stale[i] == gone.ID() {
			t.Fatal("a stale table picked a removed target")
		}
		if before[i] != gone.ID() && stale[i] != before[i] {
			t.Fatalf("key %d moved from %s to %s during the rebuild", i, before[i], stale[i])
		}
	}
	if h.maglev.cur.Load().snap != pool.load() {
		mapping(t, h, 1)
	}
	if h.maglev.cur.Load().snap != pool.load() {
		t.Error("table not rebuilt once the lock was free")
	}
}

// TestHashBoundedWalkOrder checks bounded-load rendezvous picks against a
// reference that sorts every target by score: a pick goes to the first
// target in decreasing score order (ties to the lower index) that is under
// its bound, or to the least loaded one when every target is full. Pools
// above rendezvousStack take the borrowed-buffer path.
func TestHashBoundedWalkOrder(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		weights bool // unequal weights, 1 to 5
		tie     bool // targets 0 and 1 share a hash and weight: their scores tie for every key
	}{
		{"equal/3", 3, false, false},
		{"unequal/5", 5, true, false},
		{"tie/3", 3, false, true},
		{"tie-unequal/4", 4, true, true},
		{"equal/64", 64, false, false},
		{"unequal/64", 64, true, false},
		{"unequal/200", 200, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ups []Upstream
			for i := range tc.n {
				w := 1
				if tc.weights {
					w = 1 + i%5
				}
				if tc.tie && i < 2 {
					w = 2
				}
				ups = append(ups, Upstream{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.3.%d.%d:80", i/250, i%250)}, Weight: w})
			}
			pool, err := NewPool(ups)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tie {
				pool.Targets()[1].hash = pool.Targets()[0].hash
			}
			h, err := NewHash(pool, HashConfig{BoundedLoad: 1.25, MaglevThreshold: 1000})
			if err != nil {
				t.Fatal(err)
			}
			s := pool.load()
			rng := rand.New(rand.NewPCG(3, uint64(tc.n)))
			for round := range 300 {
				// Load a random prefix of some key's order heavily, so
				// that walks of every depth occur.
				key := keyOf(round)
				hk := hashString(key)
				order := make([]int, tc.n)
				for i := range order {
					order[i] = i
				}
				slices.SortStableFunc(order, func(a, b int) int {
					return cmp.Compare(rendezvousScore(s, b, hk), rendezvousScore(s, a, hk))
				})
				load := make([]int64, tc.n)
				full := rng.IntN(tc.n + 1)
				for _, i := range order[:full] {
					load[i] = int64(rng.IntN(20)) * s.weights[i]
				}
				for i, tg := range s.avail {
					tg.inflight.Add(load[i])
					pool.inflight.Add(load[i])
				}
				want := leastLoaded(s)
				for _, i := range order {
					if h.admits(s, s.avail[i], s.weights[i]) {
						want = s.avail[i]
						break
					}
				}
				got, done, err := h.Pick(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				done(Result{Status: 200})
				for i, tg := range s.avail {
					tg.inflight.Add(-load[i])
					pool.inflight.Add(-load[i])
				}
				if got != want {
					t.Fatalf("round %d: Pick(%q) = %s, want %s (first of %v under its bound)", round, key, got, want, order)
				}
			}
		})
	}
}

// TestHashBoundedWalkAllocatesNothing checks that a bounded pick walking
// past full targets allocates nothing, with its scores on the stack (64
// targets) or in a borrowed buffer (200 targets, MaglevThreshold raised).
func TestHashBoundedWalkAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, n := range []int{64, 200} {
		pool := sizedPool(t, n)
		h, err := NewHash(pool, HashConfig{BoundedLoad: 1.25, MaglevThreshold: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var held []func(Result)
		for range 3 * n {
			_, done, err := h.Pick(context.Background(), "hot") // fills the key's first choices
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, done)
		}
		unbounded, err := NewHash(pool, HashConfig{MaglevThreshold: 1000})
		if err != nil {
			t.Fatal(err)
		}
		first, done, _ := unbounded.Pick(context.Background(), "hot")
		done(Result{})
		if got, done, _ := h.Pick(context.Background(), "hot"); got == first {
			t.Fatalf("n=%d: the bounded pick still went to the key's first choice; the walk is not exercised", n)
		} else {
			done(Result{})
		}
		allocs := testing.AllocsPerRun(200, func() {
			_, done, err := h.Pick(context.Background(), "hot")
			if err != nil {
				t.Fatal(err)
			}
			done(Result{Status: 200})
		})
		if allocs != 0 {
			t.Errorf("bounded walk over %d targets: %.1f allocations per pick, want 0", n, allocs)
		}
		for _, d := range held {
			d(Result{})
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
