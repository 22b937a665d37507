package balancer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is a fixed instant far in the future, so that the wall-clock picks
// of a wrapped policy never end ejections made at t0 by accident.
var t0 = time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)

func fakePool(t testing.TB, n int) (*Pool, []*Target) {
	t.Helper()
	urls := make([]string, n)
	for i := range urls {
		urls[i] = "http://10.0.0." + string(rune('1'+i)) + ":80"
	}
	p := poolOf(t, urls...)
	return p, p.Targets()
}

func newOutlier(t testing.TB, p *Pool, cfg OutlierConfig) *Outlier {
	t.Helper()
	o, err := NewOutlier(NewRoundRobin(p), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

var (
	fail502 = Result{Status: 502}
	failErr = Result{Err: errors.New("connection refused")}
	okRes   = Result{Status: 200}
)

func TestOutlierEjectsAfterConsecutiveFailures(t *testing.T) {
	p, ts := fakePool(t, 3)
	o := newOutlier(t, p, OutlierConfig{})
	for i := range 4 {
		o.ObserveAt(ts[0], fail502, t0)
		if _, ej := o.Ejected(ts[0]); ej {
			t.Fatalf("ejected after %d failures, want 5", i+1)
		}
	}
	o.ObserveAt(ts[0], failErr, t0)
	until, ej := o.Ejected(ts[0])
	if !ej || !until.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("Ejected = %v, %v; want true until t0+30s", until, ej)
	}
	if p.Available() != 2 || ts[0].Healthy() {
		t.Fatalf("Available() = %d, Healthy = %v after ejection", p.Available(), ts[0].Healthy())
	}
	o.UpdateAt(t0.Add(29 * time.Second))
	if _, ej := o.Ejected(ts[0]); ej == false {
		t.Fatal("ejection ended early")
	}
	o.UpdateAt(t0.Add(30 * time.Second))
	if _, ej := o.Ejected(ts[0]); ej || p.Available() != 3 {
		t.Fatalf("ejection did not end at t0+30s (available %d)", p.Available())
	}
}

func TestOutlierEjectionGrowsAndIsCapped(t *testing.T) {
	p, ts := fakePool(t, 2)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 1, BaseEjection: 10 * time.Second, MaxEjection: 35 * time.Second})
	now := t0
	for i, want := range []time.Duration{10, 20, 30, 35, 35} {
		o.ObserveAt(ts[0], fail502, now)
		until, ej := o.Ejected(ts[0])
		if !ej || until.Sub(now) != want*time.Second {
			t.Fatalf("ejection %d lasts %v, want %v", i+1, until.Sub(now), want*time.Second)
		}
		now = until
		o.UpdateAt(now)
	}
	// In for MaxEjection: the count starts over.
	now = now.Add(35 * time.Second)
	o.ObserveAt(ts[0], fail502, now)
	if until, _ := o.Ejected(ts[0]); until.Sub(now) != 10*time.Second {
		t.Fatalf("after a quiet period ejection lasts %v, want the base 10s", until.Sub(now))
	}
}

func TestOutlierCountsOnlyConsecutiveRealFailures(t *testing.T) {
	cases := []struct {
		name string
		seq  []Result
		want bool
	}{
		{"five failures", []Result{fail502, fail502, failErr, {Status: 503}, {Status: 504}}, true},
		{"success resets", []Result{fail502, fail502, fail502, fail502, okRes, fail502, fail502, fail502, fail502}, false},
		{"4xx is a response", []Result{fail502, fail502, fail502, fail502, {Status: 404}, fail502}, false},
		{"client cancels never count", []Result{{Canceled: true, Err: errors.New("gone")}, {Canceled: true}, {Canceled: true}, {Canceled: true}, {Canceled: true}, {Canceled: true}}, false},
		{"local shedding never counts", []Result{{Status: 503, Canceled: true}, {Status: 503, Canceled: true}, {Status: 503, Canceled: true}, {Status: 503, Canceled: true}, {Status: 503, Canceled: true}}, false},
		{"cancels do not reset", []Result{fail502, fail502, fail502, {Canceled: true}, fail502, fail502}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ts := fakePool(t, 3)
			o := newOutlier(t, p, OutlierConfig{})
			for _, r := range tc.seq {
				o.ObserveAt(ts[1], r, t0)
			}
			if _, ej := o.Ejected(ts[1]); ej != tc.want {
				t.Fatalf("Ejected = %v, want %v", ej, tc.want)
			}
		})
	}
}

func TestOutlierEjectsAtMostMaxPercent(t *testing.T) {
	p, ts := fakePool(t, 4)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 1, PanicThreshold: -1})
	for _, tg := range ts {
		o.ObserveAt(tg, fail502, t0)
	}
	if p.Available() != 2 {
		t.Fatalf("Available() = %d, want 2 (at most 50%% of 4 ejected)", p.Available())
	}
	p1, ts1 := fakePool(t, 1)
	o1 := newOutlier(t, p1, OutlierConfig{Consecutive: 1, PanicThreshold: -1})
	o1.ObserveAt(ts1[0], fail502, t0)
	if p1.Available() != 0 {
		t.Fatal("a lone failing target must be ejectable (one may always be ejected)")
	}
}

func TestOutlierPanicModeAndFailFast(t *testing.T) {
	for _, failFast := range []bool{false, true} {
		p, ts := fakePool(t, 3)
		o := newOutlier(t, p, OutlierConfig{Consecutive: 1, MaxEjectedPercent: 100, FailFast: failFast})
		pol := o
		o.ObserveAt(ts[0], fail502, t0)
		if o.Stats().Panicking || p.Available() != 2 {
			t.Fatalf("failFast=%v: 2 of 3 healthy: panic=%v available=%d", failFast, o.Stats().Panicking, p.Available())
		}
		o.ObserveAt(ts[1], fail502, t0)
		if !o.Stats().Panicking {
			t.Fatalf("failFast=%v: 1 of 3 healthy is below 50%% but no panic", failFast)
		}
		_, done, err := pol.Pick(context.Background(), "")
		if failFast {
			if !errors.Is(err, ErrNoTargets) || !errors.Is(err, ErrPanicFailFast) {
				t.Fatalf("fail fast Pick error = %v", err)
			}
			if p.Available() != 1 {
				t.Fatalf("fail fast: Available() = %d, want 1", p.Available())
			}
		} else {
			if err != nil || p.Available() != 3 {
				t.Fatalf("panic: Pick error %v, Available() = %d, want all 3 spread over", err, p.Available())
			}
			done(Result{Canceled: true})
		}
		o.UpdateAt(t0.Add(time.Hour))
		if o.Stats().Panicking || p.Available() != 3 {
			t.Fatalf("failFast=%v: after ejections end panic=%v available=%d", failFast, o.Stats().Panicking, p.Available())
		}
	}
}

func TestOutlierPicksObserveAndEndEjectionsLazily(t *testing.T) {
	p, ts := fakePool(t, 2)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 2, BaseEjection: time.Millisecond})
	pol, err := NewOutlier(firstAvail{p}, OutlierConfig{Consecutive: 2, BaseEjection: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o = pol
	for range 2 {
		tg, done, err := pol.Pick(context.Background(), "")
		if err != nil || tg != ts[0] {
			t.Fatalf("Pick = %v, %v", tg, err)
		}
		done(Result{Status: 502, End: time.Now().Add(-time.Hour)})
	}
	if _, ej := o.Ejected(ts[0]); !ej {
		t.Fatal("two failures through Wrap did not eject")
	}
	// The ejection (1ms from an hour ago) ends at the next pick.
	if _, _, err := pol.Pick(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if _, ej := o.Ejected(ts[0]); ej || p.Available() != 2 {
		t.Fatal("an expired ejection did not end at the next pick")
	}
}

func TestOutlierForgetsRemovedTargets(t *testing.T) {
	p, ts := fakePool(t, 3)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 1})
	o.ObserveAt(ts[2], fail502, t0)
	p.Remove(ts[2].URL())
	o.UpdateAt(t0)
	n := 0
	o.states.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d states kept for removed targets", n)
	}
}

func TestNewOutlierErrors(t *testing.T) {
	p, _ := fakePool(t, 1)
	for _, cfg := range []OutlierConfig{{Consecutive: -1}, {MaxEjectedPercent: 101}, {BaseEjection: -1}, {PanicThreshold: 101},
		{PanicThreshold: -1, FailFast: true}, // FailFast replaces a panic mode that is off
	} {
		if _, err := NewOutlier(NewRoundRobin(p), cfg); err == nil {
			t.Errorf("NewOutlier(%+v) accepted", cfg)
		}
	}
	if _, err := NewOutlier(nil, OutlierConfig{}); err == nil {
		t.Error("NewOutlier(nil policy) accepted")
	}
}

func BenchmarkOutlierPick(b *testing.B) {
	p, _ := fakePool(b, 3)
	o := newOutlier(b, p, OutlierConfig{})
	pol := o
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, done, _ := pol.Pick(context.Background(), "")
			done(Result{Status: 200})
		}
	})
}

// firstAvail always picks the pool's first available target.
type firstAvail struct{ p *Pool }

func (f firstAvail) Pick(context.Context, string) (*Target, func(Result), error) {
	s := f.p.load()
	if len(s.avail) == 0 {
		return nil, nil, ErrNoTargets
	}
	t := s.avail[0]
	t.acquire()
	return t, t.release, nil
}

func (f firstAvail) targetPool() *Pool { return f.p }

// TestOutliersSharingAPoolEjectTogether: two Outliers on one pool (the
// policies of two routes) each eject on their own; a target stays out
// while either holds it out, and Close releases only the closer's hold.
func TestOutliersSharingAPoolEjectTogether(t *testing.T) {
	p, ts := fakePool(t, 4)
	cfg := OutlierConfig{Consecutive: 1, BaseEjection: time.Minute, PanicThreshold: -1}
	o1, o2 := newOutlier(t, p, cfg), newOutlier(t, p, cfg)
	o1.ObserveAt(ts[0], fail502, t0)
	o2.ObserveAt(ts[0], fail502, t0)
	o2.ObserveAt(ts[1], fail502, t0)
	if ts[0].Healthy() || ts[1].Healthy() || p.Available() != 2 {
		t.Fatalf("available %d, want the two targets ejected by either out", p.Available())
	}
	o1.UpdateAt(t0.Add(2 * time.Minute)) // o1's ejection of ts[0] ends
	if ts[0].Healthy() {
		t.Fatal("target back in while another Outlier still ejects it")
	}
	o2.Close()
	if !ts[0].Healthy() || !ts[1].Healthy() {
		t.Fatal("Close did not release the closed Outlier's ejections")
	}
	if st := o2.Stats(); st.Ejected != 0 {
		t.Fatalf("closed Outlier still reports %d ejected", st.Ejected)
	}
	o2.ObserveAt(ts[2], fail502, t0)
	if !ts[2].Healthy() {
		t.Fatal("a closed Outlier ejected a target")
	}
}

func TestOutlierLogsEjectionsWithPoolAndTarget(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	p, ts := fakePool(t, 3)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 2, BaseEjection: time.Minute, Name: "api", Logger: slogTo(&buf, &mu)})
	o.ObserveAt(ts[1], fail502, t0)
	o.ObserveAt(ts[1], fail502, t0)
	o.UpdateAt(t0.Add(2 * time.Minute))
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	for _, want := range []string{
		`level=WARN msg="balancer: target ejected" pool=api target=http://10.0.0.2:80 consecutive_failures=2 for=1m0s ejections=1`,
		`level=INFO msg="balancer: ejected target back" pool=api target=http://10.0.0.2:80`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
