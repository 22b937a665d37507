package balancer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestUpstreamValidation(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	tests := []struct {
		name string
		up   Upstream
		ok   bool
	}{
		{"plain", Upstream{URL: u("http://a:1")}, true},
		{"https with path", Upstream{URL: u("https://a/base")}, true},
		{"zero weight means 1", Upstream{URL: u("http://a:1"), Weight: 0}, true},
		{"max weight", Upstream{URL: u("http://a:1"), Weight: MaxWeight}, true},
		{"negative weight", Upstream{URL: u("http://a:1"), Weight: -1}, false},
		{"huge weight", Upstream{URL: u("http://a:1"), Weight: MaxWeight + 1}, false},
		{"no URL", Upstream{}, false},
		{"bad scheme", Upstream{URL: u("ftp://a")}, false},
		{"no host", Upstream{URL: u("http:///x")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool([]Upstream{tc.up})
			if (err == nil) != tc.ok {
				t.Fatalf("NewPool(%+v) error = %v, want ok=%v", tc.up, err, tc.ok)
			}
			if want := max(tc.up.Weight, 1); err == nil && p.Targets()[0].Weight() != want {
				t.Fatalf("weight %d, want %d", p.Targets()[0].Weight(), want)
			}
		})
	}
}

func TestParseUpstreams(t *testing.T) {
	ups, err := ParseUpstreams(" 127.0.0.1:9001, https://B.example:8443/api ,")
	if err != nil || len(ups) != 2 {
		t.Fatalf("ParseUpstreams = %v, %v", ups, err)
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tg := range p.Targets() {
		ids = append(ids, tg.ID())
	}
	if ids[0] != "http://127.0.0.1:9001" || ids[1] != "https://b.example:8443/api" {
		t.Errorf("IDs = %q", ids)
	}
	for _, bad := range []string{"", " , ", "ftp://x", "http://[::1"} {
		if _, err := ParseUpstreams(bad); err == nil {
			t.Errorf("ParseUpstreams(%q) succeeded", bad)
		}
	}
	if _, err := ParseUpstreams(""); !errors.Is(err, ErrNoTargets) {
		t.Errorf("empty list error %v, want ErrNoTargets", err)
	}
	if _, err := NewPool([]Upstream{ups[0], ups[0]}); err == nil {
		t.Error("duplicate upstreams accepted")
	}
}

func TestPoolDynamic(t *testing.T) {
	pool := weightedPool(t, 1, 2)
	s0 := pool.load()
	c, err := pool.Add(Upstream{URL: &url.URL{Scheme: "http", Host: "c.test:80"}, Weight: 3, Zone: "z1", Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Add(Upstream{URL: &url.URL{Scheme: "HTTP", Host: "C.test:80"}}); err == nil {
		t.Error("duplicate (after case folding) accepted")
	}
	if len(s0.all) != 2 || s0.total != 3 {
		t.Error("an old snapshot changed after Add")
	}
	if pool.Len() != 3 || pool.Available() != 3 || c.Zone() != "z1" || c.Metadata("k") != "v" {
		t.Fatalf("after Add: len %d avail %d zone %q", pool.Len(), pool.Available(), c.Zone())
	}
	if got, ok := pool.Lookup("http://c.test:80"); !ok || got != c {
		t.Error("Lookup failed")
	}
	if err := pool.Update(Upstream{URL: c.URL(), Weight: 5}); err != nil || c.Weight() != 5 || pool.load().total != 8 {
		t.Errorf("Update: %v, weight %d, total %d", err, c.Weight(), pool.load().total)
	}
	if err := pool.Update(Upstream{URL: &url.URL{Scheme: "http", Host: "zz:1"}}); err == nil {
		t.Error("Update of an unknown target succeeded")
	}
	if !pool.SetHealthy(c, false) || pool.SetHealthy(c, false) || pool.Available() != 2 || c.Healthy() {
		t.Error("SetHealthy(false) did not take c out exactly once")
	}
	pool.SetHealthy(c, true)
	if !pool.Remove(c.URL()) || pool.Remove(c.URL()) || pool.Len() != 2 {
		t.Error("Remove did not remove c exactly once")
	}
	// Targets is a copy.
	ts := pool.Targets()
	ts[0] = nil
	if pool.Targets()[0] == nil {
		t.Error("Targets exposes the snapshot")
	}
	other := weightedPool(t, 1)
	if pool.SetHealthy(other.Targets()[0], false) {
		t.Error("SetHealthy accepted another pool's target")
	}
}

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

// TestWeightSemantics checks the documented weights of Add and Update: 0
// means the default 1 (not zero traffic), 1 to MaxWeight are kept, and a
// negative weight or one above MaxWeight is an error that changes nothing.
// Draining is Remove or SetHealthy(t, false).
func TestWeightSemantics(t *testing.T) {
	tests := []struct {
		name   string
		weight int
		want   int // 0: an error
	}{
		{"zero means 1", 0, 1},
		{"one", 1, 1},
		{"seven", 7, 7},
		{"max", MaxWeight, MaxWeight},
		{"negative", -1, 0},
		{"very negative", -MaxWeight, 0},
		{"above max", MaxWeight + 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := weightedPool(t, 3)
			u := &url.URL{Scheme: "http", Host: "new.test:80"}
			tg, err := pool.Add(Upstream{URL: u, Weight: tc.weight})
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("Add(Weight: %d) succeeded with weight %d, want an error", tc.weight, tg.Weight())
			case tc.want == 0 && pool.Len() != 1:
				t.Fatalf("a failed Add changed the pool: %d targets", pool.Len())
			case tc.want != 0 && err != nil:
				t.Fatalf("Add(Weight: %d) = %v", tc.weight, err)
			case tc.want != 0 && tg.Weight() != tc.want:
				t.Fatalf("Add(Weight: %d) gave weight %d, want %d", tc.weight, tg.Weight(), tc.want)
			}
			a := pool.Targets()[0]
			if err := pool.Update(Upstream{URL: a.URL(), Weight: 5}); err != nil {
				t.Fatal(err)
			}
			total := pool.load().total
			err = pool.Update(Upstream{URL: a.URL(), Weight: tc.weight})
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("Update(Weight: %d) succeeded with weight %d, want an error", tc.weight, a.Weight())
			case tc.want == 0 && (a.Weight() != 5 || pool.load().total != total):
				t.Fatalf("a failed Update changed the weight to %d (pool total %d, was %d)", a.Weight(), pool.load().total, total)
			case tc.want != 0 && err != nil:
				t.Fatalf("Update(Weight: %d) = %v", tc.weight, err)
			case tc.want != 0 && a.Weight() != tc.want:
				t.Fatalf("Update(Weight: %d) gave weight %d, want %d", tc.weight, a.Weight(), tc.want)
			}
		})
	}
	t.Run("drain", func(t *testing.T) {
		pool := weightedPool(t, 1, 1, 1)
		a, b := pool.Targets()[0], pool.Targets()[1]
		wrr := NewWeightedRoundRobin(pool)
		if err := pool.Update(Upstream{URL: a.URL(), Weight: 0}); err != nil || a.Weight() != 1 {
			t.Fatalf("Update(Weight: 0) = %v, weight %d; want weight 1", err, a.Weight())
		}
		if got := picks(t, wrr, 30); strings.Count(got, "a") != 10 {
			t.Errorf("after Update(Weight: 0), picks = %q, want a still taking its equal share", got)
		}
		pool.SetHealthy(a, false)
		pool.Remove(b.URL())
		if got := picks(t, wrr, 30); got != strings.Repeat("c", 30) {
			t.Errorf("after SetHealthy(a, false) and Remove(b), picks = %q, want only c", got)
		}
	})
}

// TestConcurrentPicksWhileChanging picks with every policy from several
// goroutines while targets are added, removed, reweighted and flip health.
// The changes start only once every picker has made warmup picks, and go
// on (at least 300 of them) until every picker has made minDuring picks
// while they ran, so picks and changes are known to overlap.
func TestConcurrentPicksWhileChanging(t *testing.T) {
	const warmup, minDuring = 20, 5
	pool := sizedPool(t, 8)
	pols := allPolicies(t, pool)
	stop := make(chan struct{})
	var (
		wg, warm  sync.WaitGroup
		changing  atomic.Bool  // the pool is being changed
		during    atomic.Int64 // picks started while it was
		saturated atomic.Int64 // pickers with minDuring such picks
	)
	warm.Add(len(pols))
	for name, p := range pols {
		wg.Go(func() {
			mine := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i == warmup {
					warm.Done()
				}
				if changing.Load() {
					during.Add(1)
					if mine++; mine == minDuring {
						saturated.Add(1)
					}
				}
				tg, done, err := p.Pick(context.Background(), keyOf(i%50))
				if err != nil {
					if !errors.Is(err, ErrNoTargets) {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				_ = tg.URL().Host
				done(Result{Status: 200, Latency: 1000})
				if mine > minDuring {
					runtime.Gosched() // leave the changer some CPU
				}
			}
		})
	}
	warm.Wait()
	changing.Store(true)
	extra := &url.URL{Scheme: "http", Host: "extra.test:80"}
	changes := 0
	for ; changes < 300 || saturated.Load() < int64(len(pols)); changes++ {
		switch changes % 4 {
		case 0:
			pool.Add(Upstream{URL: extra, Weight: 1 + changes%3})
		case 1:
			pool.Update(Upstream{URL: extra, Weight: 2})
		case 2:
			ts := pool.Targets()
			pool.SetHealthy(ts[changes%len(ts)], changes%8 != 2)
		case 3:
			pool.Remove(extra)
		}
		if changes >= 300 {
			runtime.Gosched() // let starved pickers catch up
		}
	}
	changing.Store(false)
	close(stop)
	wg.Wait()
	t.Logf("%d pool changes, %d picks during them", changes, during.Load())
	if during.Load() < minDuring*int64(len(pols)) {
		t.Errorf("%d picks overlapped the pool changes, want at least %d", during.Load(), minDuring*len(pols))
	}
	for _, tg := range pool.Targets() {
		pool.SetHealthy(tg, true)
	}
	if pool.Available() != pool.Len() || pool.Len() < 8 {
		t.Errorf("after the changes: %d targets, %d available", pool.Len(), pool.Available())
	}
	if n := pool.InFlight(); n != 0 {
		t.Errorf("in flight after all done = %d", n)
	}
}

// FuzzParseUpstreams checks that any list either fails or yields
// upstreams whose canonical IDs parse back to the same targets.
func FuzzParseUpstreams(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "a:1,b:2", "https://x/y", "ftp://x", "http://[::1]:8080", ",,", "http://%zz", "A:1,a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ups, err := ParseUpstreams(list)
		if err != nil {
			return
		}
		pool, err := NewPool(ups)
		if err != nil {
			return // duplicates
		}
		for _, tg := range pool.Targets() {
			again, err := ParseUpstreams(tg.ID())
			if err != nil || len(again) != 1 {
				t.Fatalf("ID %q of %q does not parse back: %v", tg.ID(), list, err)
			}
			u, _ := again[0].normalize()
			if u.String() != tg.ID() {
				t.Fatalf("ID %q re-parses as %q", tg.ID(), u.String())
			}
		}
	})
}
