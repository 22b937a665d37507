package balancer

import (
	"context"
	"runtime"
	"testing"
	"time"
)

func TestDoneCacheFollowsInnerDone(t *testing.T) {
	var c doneCache
	var got []string
	a := func(Result) { got = append(got, "a") }
	b := func(Result) { got = append(got, "b") }
	ida, idb := new(Target), new(Target) // the pointers that hold a and b
	builds := 0
	mk := func(inner func(Result)) func(Result) {
		builds++
		return func(r Result) { inner(r) }
	}
	for _, in := range []struct {
		id    doneID
		inner func(Result)
	}{{ida, a}, {ida, a}, {idb, b}, {idb, b}, {ida, a}} {
		fn, id := c.get(in.id, in.inner, mk)
		if id == nil {
			t.Fatal("a cached done has no identity")
		}
		fn(Result{})
	}
	if want := "a a b b a"; joinStrings(got) != want || builds != 3 {
		t.Fatalf("calls %q with %d builds, want %q with 3 (a rebuild each time the inner done changes)", got, builds, want)
	}
	// A done of unknown identity (a policy from outside the package) is
	// wrapped anew each time, never mistaken for the cached one.
	for range 2 {
		fn, id := c.get(nil, b, mk)
		if id != nil {
			t.Fatal("a done built around an unknown one has an identity")
		}
		fn(Result{})
	}
	if want := "a a b b a b b"; joinStrings(got) != want || builds != 5 {
		t.Fatalf("calls %q with %d builds, want %q with 5", got, builds, want)
	}
}

// TestWrapperOverForeignPolicyCallsItsDone: a wrapper around a policy from
// outside the package calls the done each pick returned, not a cached one.
func TestWrapperOverForeignPolicyCallsItsDone(t *testing.T) {
	p, ts := fakePool(t, 1)
	var calls []int
	n := 0
	fp := foreignFunc(func(context.Context, string) (*Target, func(Result), error) {
		n++
		i := n
		ts[0].acquire()
		return ts[0], func(r Result) { calls = append(calls, i); ts[0].release(r) }, nil
	})
	b := newBreaker(t, fp, BreakerConfig{})
	for range 3 {
		_, done, err := b.Pick(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		done(Result{Status: 200})
	}
	if len(calls) != 3 || calls[0] != 1 || calls[1] != 2 || calls[2] != 3 {
		t.Fatalf("done calls %v, want each pick's own done: [1 2 3]", calls)
	}
	if ts[0].InFlight() != 0 || b.InFlight(ts[0]) != 0 || p.InFlight() != 0 {
		t.Fatal("counts not back to zero")
	}
}

type foreignFunc func(context.Context, string) (*Target, func(Result), error)

func (f foreignFunc) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	return f(ctx, key)
}

func joinStrings(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

// BenchmarkPickWrapped measures a pick plus done through Outlier.Wrap and
// a Breaker around round-robin at 3 targets.
func BenchmarkPickWrapped(b *testing.B) {
	pool := sizedPool(b, 3)
	for _, bp := range withWrappers(b, pool, benchPolicies(b, pool)[:1]) {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, done, err := bp.p.Pick(context.Background(), "")
				if err != nil {
					b.Fatal(err)
				}
				done(Result{Status: 200})
			}
		})
	}
}

// TestBreakerWaitsUnderOtherWrappers: a full Breaker makes the request
// wait for a slot (MaxWaiting, MaxWait) wherever it sits in the chain of
// wrappers, since each passes the request's context on.
func TestBreakerWaitsUnderOtherWrappers(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(t *testing.T, b *Breaker) Policy
	}{
		{"bare", func(_ *testing.T, b *Breaker) Policy { return b }},
		{"under slow start", func(t *testing.T, b *Breaker) Policy {
			s, err := NewSlowStart(b, SlowStartConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"under outlier detection", func(t *testing.T, b *Breaker) Policy {
			o, err := NewOutlier(b, OutlierConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return o
		}},
		{"under both", func(t *testing.T, b *Breaker) Policy {
			o, err := NewOutlier(b, OutlierConfig{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSlowStart(o, SlowStartConfig{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ts := fakePool(t, 1)
			b := newBreaker(t, NewRoundRobin(p), BreakerConfig{MaxInFlight: 1, MaxWaiting: 1, MaxWait: time.Minute})
			pol := tc.wrap(t, b)
			_, first, err := pol.Pick(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			type pick struct {
				t    *Target
				done func(Result)
				err  error
			}
			got := make(chan pick, 1)
			go func() {
				tg, done, err := pol.Pick(context.Background(), "")
				got <- pick{tg, done, err}
			}()
			for b.Stats().Waiting == 0 {
				select {
				case p := <-got:
					t.Fatalf("second pick returned (%v, %v) at once, want it to wait for the slot", p.t, p.err)
				default:
					runtime.Gosched()
				}
			}
			first(Result{Status: 200})
			second := <-got
			if second.err != nil || second.t != ts[0] {
				t.Fatalf("second pick = %v, %v; want the target once its slot freed", second.t, second.err)
			}
			second.done(Result{Status: 200})
			if ts[0].InFlight() != 0 || b.InFlight(ts[0]) != 0 || b.Stats().Rejected != 0 {
				t.Fatalf("in flight %d/%d, rejected %d after both done", ts[0].InFlight(), b.InFlight(ts[0]), b.Stats().Rejected)
			}
		})
	}
}

// foreignPolicy is a Policy from outside the package: no pool to find.
type foreignPolicy struct{ p Policy }

func (f foreignPolicy) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	return f.p.Pick(ctx, key)
}

func TestWrapperConstructorsRefuseCombinationsThatChangeBehaviour(t *testing.T) {
	p, _ := fakePool(t, 2)
	rr := NewRoundRobin(p)
	ss := newSlowStart(t, rr, SlowStartConfig{})
	o := newOutlier(t, p, OutlierConfig{})
	b := newBreaker(t, o, BreakerConfig{})
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"slow start around slow start", func() error { _, err := NewSlowStart(ss, SlowStartConfig{}); return err }()},
		{"slow start around a breaker around slow start", func() error {
			_, err := NewSlowStart(newBreaker(t, ss, BreakerConfig{}), SlowStartConfig{})
			return err
		}()},
		{"outlier detection around outlier detection", func() error { _, err := NewOutlier(o, OutlierConfig{}); return err }()},
		{"outlier detection around a breaker around it", func() error { _, err := NewOutlier(b, OutlierConfig{}); return err }()},
		{"slow start over a policy with no pool", func() error { _, err := NewSlowStart(foreignPolicy{rr}, SlowStartConfig{}); return err }()},
		{"outlier detection over a policy with no pool", func() error { _, err := NewOutlier(foreignPolicy{rr}, OutlierConfig{}); return err }()},
		{"slow start over nil", func() error { _, err := NewSlowStart(nil, SlowStartConfig{}); return err }()},
		{"breaker over nil", func() error { _, err := NewBreaker(nil, BreakerConfig{}); return err }()},
	} {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	// Orders that keep every wrapper's behaviour are accepted.
	if _, err := NewBreaker(foreignPolicy{rr}, BreakerConfig{}); err != nil {
		t.Errorf("breaker over a policy from outside the package: %v", err)
	}
	if _, err := NewSlowStart(b, SlowStartConfig{}); err != nil {
		t.Errorf("slow start around a breaker around outlier detection: %v", err)
	}
	if _, err := NewOutlier(newBreaker(t, ss, BreakerConfig{}), OutlierConfig{}); err != nil {
		t.Errorf("outlier detection around a breaker around slow start: %v", err)
	}
}

func TestStatusOfSaysWhyATargetIsNotPickable(t *testing.T) {
	p, ts := fakePool(t, 2)
	b := newBreaker(t, NewRoundRobin(p), BreakerConfig{MaxInFlight: 1})
	o, err := NewOutlier(b, OutlierConfig{Consecutive: 1, PanicThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st := StatusOf(o, ts[0]); !st.Pickable || st != (TargetStatus{Target: ts[0].ID(), Pickable: true}) {
		t.Fatalf("fresh target: %+v", st)
	}
	o.ObserveAt(ts[0], fail502, t0)
	setChecked(ts[0], false)
	p.SetHealthy(ts[0], false)
	p.SetDraining(ts[0], true)
	want := TargetStatus{Target: ts[0].ID(), CheckedDown: true, Ejected: true, Parked: true, Draining: true}
	if st := StatusOf(o, ts[0]); st != want {
		t.Fatalf("StatusOf = %+v, want %+v", st, want)
	}
	tg, done, err := o.Pick(context.Background(), "")
	if err != nil || tg != ts[1] {
		t.Fatalf("Pick = %v, %v; want the only pickable target", tg, err)
	}
	if st := StatusOf(o, ts[1]); st.Pickable || !st.Full || st.InFlight != 1 {
		t.Fatalf("target at the breaker's limit: %+v, want Full and not Pickable", st)
	}
	if st := ts[1].Status(); !st.Pickable || st.Full {
		t.Fatalf("Target.Status knows no breaker: %+v", st)
	}
	done(Result{Status: 200})
	if got := p.Statuses(); len(got) != 2 || got[0].Pickable || !got[1].Pickable {
		t.Fatalf("Pool.Statuses = %+v", got)
	}
}
