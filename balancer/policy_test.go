package balancer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

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

func TestRoundRobinSequence(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1)
	rr := NewRoundRobin(pool)
	if got := picks(t, rr, 9); !isRotation(got, "abc") {
		t.Fatalf("picks = %q, want a rotation of abc", got)
	}
	pool.Remove(&url.URL{Scheme: "http", Host: "b.test:80"})
	if got := picks(t, rr, 6); !isRotation(got, "ac") {
		t.Fatalf("after removing b: picks = %q, want a rotation of ac", got)
	}
	// Random start: over many instances, the first pick is not always a.
	first := map[string]bool{}
	for range 64 {
		first[picks(t, NewRoundRobin(pool), 1)] = true
	}
	if len(first) < 2 {
		t.Errorf("64 new RoundRobins all started at %v", first)
	}
}

func TestWeightedRoundRobinSequence(t *testing.T) {
	tests := []struct {
		weights []int
		cycle   string
	}{
		{[]int{5, 1, 1}, "aabacaa"},
		{[]int{1, 1, 1}, "abc"},
		{[]int{3, 2}, "ababa"},
		{[]int{2, 1}, "aba"},
		{[]int{1, 4}, "bbabb"},
	}
	for _, tc := range tests {
		for _, path := range []string{"cycle", "stepping"} {
			t.Run(fmt.Sprint(tc.weights, path), func(t *testing.T) {
				pool := weightedPool(t, tc.weights...)
				mk := func() *WeightedRoundRobin {
					w := NewWeightedRoundRobin(pool)
					if path == "stepping" {
						w.maxCycle = 0
					}
					return w
				}
				// From the start of the cycle: exact.
				w := mk()
				w.mu.Lock()
				w.reset(pool.load(), 0)
				w.mu.Unlock()
				w.rr.Store(0)
				if got, want := picks(t, w, 2*len(tc.cycle)), strings.Repeat(tc.cycle, 2); got != want {
					t.Fatalf("picks = %q, want %q", got, want)
				}
				// From a random start: a rotation of the cycle.
				if got := picks(t, mk(), 3*len(tc.cycle)); !isRotation(got, tc.cycle) {
					t.Fatalf("picks = %q, want a rotation of %q", got, tc.cycle)
				}
			})
		}
	}
	// Weights with a common divisor give the same cycle.
	w := NewWeightedRoundRobin(weightedPool(t, 50, 10, 10))
	w.rr.Store(0)
	if got := picks(t, w, 7); got != "aabacaa" {
		t.Errorf("weights 50, 10, 10: picks = %q, want aabacaa", got)
	}
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

func TestRandomDistribution(t *testing.T) {
	// 50,000 picks: the standard error of a share is at most 0.0023; the
	// tolerance is about 6 of them.
	got := shares(t, NewRandom(weightedPool(t, 1, 2, 7)), 50000, nil)
	checkShares(t, got, map[string]float64{"a": 0.1, "b": 0.2, "c": 0.7}, 0.015)
	got = shares(t, NewRandom(weightedPool(t, 1, 1, 1, 1)), 50000, nil)
	checkShares(t, got, map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}, 0.015)
}

func TestLeastRequestDistribution(t *testing.T) {
	lr, err := NewLeastRequest(weightedPool(t, 1, 1, 1, 1), LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	checkShares(t, shares(t, lr, 40000, nil), map[string]float64{"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25}, 0.015)

	// The most loaded target never gets a new request.
	pool := weightedPool(t, 1, 1, 1)
	lr, _ = NewLeastRequest(pool, LoadConfig{})
	a := pool.Targets()[0]
	for range 5 {
		a.acquire()
	}
	if got := shares(t, lr, 3000, nil); got["a"] != 0 {
		t.Errorf("target with 5 in flight got share %.3f, want 0", got["a"])
	}
	// Weights: at equal load the heavier target wins.
	lr, _ = NewLeastRequest(weightedPool(t, 1, 3), LoadConfig{})
	if got := shares(t, lr, 1000, nil); got["b"] != 1 {
		t.Errorf("idle pool, weights 1 and 3: share of b = %.3f, want 1", got["b"])
	}
}

func TestLeastConnPicksLeastLoaded(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1, 2)
	lc, err := NewLeastConn(pool, LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ts := pool.Targets()
	for i, n := range []int{2, 1, 3, 5} {
		for range n {
			ts[i].acquire()
		}
	}
	load := func(t *Target) float64 { return float64(t.InFlight()+1) / float64(t.Weight()) }
	var held []func(Result)
	for range 20 {
		minLoad := math.Inf(1)
		for _, t := range ts {
			minLoad = min(minLoad, load(t))
		}
		tg, done, err := lc.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if load(tg)-1/float64(tg.Weight()) != minLoad {
			t.Fatalf("Pick = %s with load %.2f, want one with the least load %.2f", name(tg), load(tg), minLoad)
		}
		held = append(held, done)
	}
	for _, d := range held {
		d(Result{Status: 200})
	}
}

// simulate runs n picks of p at 1 ms steps from t0. Target "a" answers
// 503 at once; the others answer 200 after hold picks with latency lat.
// It returns the share of picks that went to "a".
func simulate(t *testing.T, p interface {
	PickAt(string, time.Time) (*Target, func(Result), error)
}, n, hold int, lat time.Duration) float64 {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type pending struct {
		due  int
		done func(Result)
	}
	var queue []pending
	bad := 0
	for i := range n {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		for len(queue) > 0 && queue[0].due <= i {
			queue[0].done(Result{Status: 200, Latency: lat, End: now})
			queue = queue[1:]
		}
		tg, done, err := p.PickAt("", now)
		if err != nil {
			t.Fatal(err)
		}
		if name(tg) == "a" {
			bad++
			done(Result{Status: 503, Latency: 100 * time.Microsecond, End: now})
			continue
		}
		queue = append(queue, pending{due: i + hold, done: done})
	}
	for _, q := range queue {
		q.done(Result{Status: 200, Latency: lat})
	}
	return float64(bad) / float64(n)
}

func TestFastFailingTargetNotFavoured(t *testing.T) {
	const n, hold = 3000, 9
	lr, _ := NewLeastRequest(weightedPool(t, 1, 1, 1), LoadConfig{})
	lc, _ := NewLeastConn(weightedPool(t, 1, 1, 1), LoadConfig{})
	pe, _ := NewPeakEWMA(weightedPool(t, 1, 1, 1), LoadConfig{})
	for _, tc := range []struct {
		name string
		p    interface {
			PickAt(string, time.Time) (*Target, func(Result), error)
		}
	}{{"least-request", lr}, {"least-conn", lc}, {"ewma", pe}} {
		t.Run(tc.name, func(t *testing.T) {
			share := simulate(t, tc.p, n, hold, 5*time.Millisecond)
			t.Logf("fast-503 target share %.3f", share)
			if share >= 1.0/3 {
				t.Errorf("fast-503 target got %.3f of picks, want less than its fair 1/3", share)
			}
		})
	}
}

func TestPeakEWMAPrefersFast(t *testing.T) {
	pool := weightedPool(t, 1, 1)
	pe, err := NewPeakEWMA(pool, LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	for i := range 2000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		tg, done, err := pe.PickAt("", now)
		if err != nil {
			t.Fatal(err)
		}
		counts[name(tg)]++
		lat := 2 * time.Millisecond
		if name(tg) == "b" {
			lat = 40 * time.Millisecond
		}
		done(Result{Status: 200, Latency: lat, End: now})
	}
	if counts["a"] < 4*counts["b"] {
		t.Errorf("picks %v: want the 2ms target to get far more than the 40ms one", counts)
	}
	// The slow target is probed again once its estimate has decayed
	// below the fast one's (after about ln(20) decay times).
	probed := false
	for i := range 600 {
		now := t0.Add(2*time.Second + time.Duration(i)*100*time.Millisecond)
		tg, done, _ := pe.PickAt("", now)
		done(Result{Status: 200, Latency: 2 * time.Millisecond, End: now})
		probed = probed || name(tg) == "b"
	}
	if !probed {
		t.Error("slow target never probed after its estimate decayed")
	}
}

func TestFailureMemoryDecays(t *testing.T) {
	pool := weightedPool(t, 1, 1)
	lr, _ := NewLeastRequest(pool, LoadConfig{Decay: time.Second})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ns := lr.la.nodes()
	for range 10 {
		ns[0].t.acquire()
		ns[0].done(Result{Err: errors.New("refused"), End: t0})
	}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 10}, {time.Second, 10 / math.E}, {10 * time.Second, 10 * math.Exp(-10)}} {
		c := clock{now: t0.Add(tc.at)}
		if got := ns[0].failures(&c); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("failures(t0+%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if got := pool.InFlight(); got != 0 {
		t.Errorf("pool in flight = %d, want 0", got)
	}
}
