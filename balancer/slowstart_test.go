package balancer

import (
	"context"
	"math"
	"net/url"
	"testing"
	"time"
)

func newSlowStart(t testing.TB, pol Policy, cfg SlowStartConfig) *SlowStart {
	t.Helper()
	s, err := NewSlowStart(pol, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSlowStartFactorRampsLinearly(t *testing.T) {
	p, ts := fakePool(t, 2)
	s := newSlowStart(t, NewRoundRobin(p), SlowStartConfig{})
	if f := s.FactorAt(ts[0], t0); f != 1 {
		t.Fatalf("warm target factor %v, want 1", f)
	}
	s.StartAt(ts[0], t0)
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 0.1}, {time.Second, 0.1}, {6 * time.Second, 0.2}, {15 * time.Second, 0.5}, {29 * time.Second, 29.0 / 30}, {30 * time.Second, 1}, {time.Hour, 1}} {
		if f := s.FactorAt(ts[0], t0.Add(tc.at)); math.Abs(f-tc.want) > 1e-9 {
			t.Errorf("FactorAt(t0+%v) = %v, want %v", tc.at, f, tc.want)
		}
	}
	if s.ramping.Load() != 0 {
		t.Fatal("a finished ramp is still counted")
	}
	for _, cfg := range []SlowStartConfig{{Window: -1}, {MinFactor: 2}} {
		if _, err := NewSlowStart(NewRoundRobin(p), cfg); err == nil {
			t.Errorf("NewSlowStart(%+v) accepted", cfg)
		}
	}
}

func share(t *testing.T, pol Policy, target *Target, n int) float64 {
	t.Helper()
	hits := 0
	for range n {
		tg, done, err := pol.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		if tg == target {
			hits++
		}
		done(Result{Status: 200})
	}
	return float64(hits) / float64(n)
}

func TestSlowStartRampsNewAndRecoveredTargets(t *testing.T) {
	p, _ := fakePool(t, 1)
	s := newSlowStart(t, NewRoundRobin(p), SlowStartConfig{Window: time.Hour})
	u, _ := url.Parse("http://10.0.0.9:80")
	nt, err := p.Add(Upstream{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	// Round robin over two would give the new target 50%; at the minimum
	// factor 0.1 it gets about 9% (a rejected pick re-asks round robin,
	// which then answers the other target, and the next pick starts at
	// the new one again: 0.1/1.1). The bounds are 6 standard deviations.
	if sh := share(t, s, nt, 4000); sh < 0.06 || sh > 0.12 {
		t.Fatalf("new target share %.3f, want about 0.09", sh)
	}
	s.StartAt(nt, time.Now().Add(-2*time.Hour)) // ramp long over
	if sh := share(t, s, nt, 4000); sh < 0.45 || sh > 0.55 {
		t.Fatalf("warm target share %.3f, want 0.5", sh)
	}
	p.SetHealthy(nt, false)
	share(t, s, nt, 10)
	p.SetHealthy(nt, true)
	if sh := share(t, s, nt, 4000); sh > 0.12 {
		t.Fatalf("recovered target share %.3f: its ramp did not restart", sh)
	}
	p.Remove(nt.URL())
	share(t, s, nt, 10)
	if s.ramping.Load() != 0 || len(s.up) != 1 {
		t.Fatalf("removed target still tracked (ramping %d, up %d)", s.ramping.Load(), len(s.up))
	}
}

func BenchmarkSlowStartPick(b *testing.B) {
	p, _ := fakePool(b, 3)
	s := newSlowStart(b, NewRoundRobin(p), SlowStartConfig{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, done, _ := s.Pick(context.Background(), "")
			done(Result{Status: 200})
		}
	})
}

// TestSlowStartRepicksHashedKeysElsewhere: a hashing policy answers the same key with the
// same target, so the re-picks use derived keys; requests whose keys hash
// to a ramping target mostly go elsewhere.
func TestSlowStartRepicksHashedKeysElsewhere(t *testing.T) {
	p, _ := fakePool(t, 3)
	h, err := NewPolicy("hash", p, PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := newSlowStart(t, h, SlowStartConfig{Window: time.Hour, MinFactor: 0.01})
	u, _ := url.Parse("http://10.0.0.9:80")
	nt, err := p.Add(Upstream{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	onNew, kept := 0, 0
	for i := range 2000 {
		key := keyOf(i)
		tg, done, err := h.Pick(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		done(Result{})
		if tg != nt {
			continue
		}
		onNew++
		tg, done, err = s.Pick(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		done(Result{})
		if tg == nt {
			kept++
		}
	}
	// Kept only at the factor (1%) or when all four keys land on it
	// (about (1/4)^3): well under a tenth.
	if onNew < 100 || kept*10 > onNew {
		t.Fatalf("%d of %d keys hashing to the ramping target kept it: want few", kept, onNew)
	}
}
