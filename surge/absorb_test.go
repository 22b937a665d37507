package surge

import (
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

func newSlowPool(t *testing.T, list string) (*balancer.Pool, *balancer.SlowStart) {
	t.Helper()
	ups, err := balancer.ParseUpstreams(list)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := balancer.NewPolicy("round-robin", pool, balancer.PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := balancer.NewSlowStart(rr, balancer.SlowStartConfig{Window: 10 * time.Second, MinFactor: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	return pool, ss
}

func TestAbsorbAddsRampingTargets(t *testing.T) {
	pool, ss := newSlowPool(t, "127.0.0.1:9001")
	ups, _ := balancer.ParseUpstreams("127.0.0.1:9002,127.0.0.1:9003")
	added, err := AbsorbAt(pool, ss, ups, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || pool.Len() != 3 {
		t.Fatalf("added %d, pool has %d; want 2 and 3", len(added), pool.Len())
	}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{{0, 0.1}, {5 * time.Second, 0.5}, {10 * time.Second, 1}} {
		for _, tg := range added {
			if got := ss.FactorAt(tg, t0.Add(tc.at)); got != tc.want {
				t.Errorf("FactorAt(%s, t0+%v) = %v, want %v", tg, tc.at, got, tc.want)
			}
		}
	}
	old, _ := pool.Lookup("http://127.0.0.1:9001")
	if got := ss.FactorAt(old, t0); got != 1 {
		t.Errorf("the warm target's factor = %v, want 1", got)
	}
}

func TestAbsorbIsAllOrNothing(t *testing.T) {
	pool, ss := newSlowPool(t, "127.0.0.1:9001")
	for _, list := range []string{
		"127.0.0.1:9002,127.0.0.1:9001", // a duplicate of a pool member
		"127.0.0.1:9002,127.0.0.1:9002", // a duplicate within the set
	} {
		ups, _ := balancer.ParseUpstreams(list)
		if _, err := AbsorbAt(pool, ss, ups, t0); err == nil {
			t.Errorf("AbsorbAt(%s) = nil error, want one", list)
		}
		if pool.Len() != 1 {
			t.Errorf("after a failed AbsorbAt(%s) the pool has %d targets, want 1", list, pool.Len())
		}
	}
	if _, err := Absorb(pool, nil, nil); err == nil {
		t.Error("Absorb without a slow start = nil error, want one")
	}
	other, _ := newSlowPool(t, "127.0.0.1:9100")
	if _, err := Absorb(other, ss, nil); err == nil || other.Len() != 1 {
		t.Errorf("Absorb with another pool's slow start = %v, want an error", err)
	}
}
