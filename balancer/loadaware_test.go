package balancer

import (
	"errors"
	"math"
	"testing"
	"time"
)

type timedPolicy interface {
	PickAt(string, time.Time) (*Target, func(Result), error)
}

// failOnce picks with p at now until it returns the target called target,
// and reports one 503 from it.
func failOnce(t *testing.T, p timedPolicy, target string, now time.Time) {
	t.Helper()
	for range 1000 {
		tg, done, err := p.PickAt("", now)
		if err != nil {
			t.Fatal(err)
		}
		if name(tg) == target {
			done(Result{Status: 503, End: now})
			return
		}
		done(Result{Canceled: true})
	}
	t.Fatalf("%s never picked", target)
}

// TestOneFailureForgottenAfterDecay proves that a failure counts as load
// for about Decay of wall time, at a low request rate (one request every
// second, each finished before the next) as at a high one (a thousand a
// second, several in flight).
func TestOneFailureForgottenAfterDecay(t *testing.T) {
	const decay = 10 * time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rate := range []struct {
		name     string
		step     time.Duration
		hold     int // picks a request stays in flight
		run      time.Duration
		minEarly float64 // least share of "a" within Decay of the failure
		maxEarly float64 // most share of "a" within Decay of the failure
		minLate  float64 // least share of "a" from 2×Decay on
	}{
		{"low rate", time.Second, 0, 5 * time.Minute, 0, 0, 0.35},
		{"high rate", time.Millisecond, 4, time.Minute, 0, 0.45, 0.45},
	} {
		for _, pol := range []struct {
			name string
			new  func(*Pool) (timedPolicy, error)
		}{
			{"least-request", func(p *Pool) (timedPolicy, error) { return NewLeastRequest(p, LoadConfig{Decay: decay}) }},
			{"least-conn", func(p *Pool) (timedPolicy, error) { return NewLeastConn(p, LoadConfig{Decay: decay}) }},
		} {
			t.Run(rate.name+"/"+pol.name, func(t *testing.T) {
				p, err := pol.new(weightedPool(t, 1, 1))
				if err != nil {
					t.Fatal(err)
				}
				failOnce(t, p, "a", t0)
				var early, earlyA, late, lateA int
				var held []func(Result)
				for at := time.Duration(0); at < rate.run; at += rate.step {
					now := t0.Add(at)
					tg, done, err := p.PickAt("", now)
					if err != nil {
						t.Fatal(err)
					}
					isA := name(tg) == "a"
					switch {
					case at < decay:
						early++
						if isA {
							earlyA++
						}
					case at >= 2*decay:
						late++
						if isA {
							lateA++
						}
					}
					held = append(held, done)
					for len(held) > rate.hold {
						held[0](Result{Status: 200, End: now})
						held = held[1:]
					}
				}
				for _, d := range held {
					d(Result{Status: 200})
				}
				es, ls := float64(earlyA)/float64(early), float64(lateA)/float64(late)
				if es < rate.minEarly || es > rate.maxEarly {
					t.Errorf("failed target got %.3f of the picks within Decay of its failure, want %.2f to %.2f", es, rate.minEarly, rate.maxEarly)
				}
				if ls < rate.minLate {
					t.Errorf("failed target got %.3f of the picks from 2×Decay on (%d of %d), want at least %.2f", ls, lateA, late, rate.minLate)
				}
			})
		}
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
		c := fixedClock(t0.Add(tc.at))
		if got := ns[0].failures(&c); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("failures(t0+%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if got := pool.InFlight(); got != 0 {
		t.Errorf("pool in flight = %d, want 0", got)
	}
}

// TestLatencyFieldsRefusedWhereNoLatencyIsRead checks that LeastRequest and
// LeastConn, which do not read latency, refuse FailurePenalty and
// InitialLatency instead of ignoring them, and that PeakEWMA takes them.
func TestLatencyFieldsRefusedWhereNoLatencyIsRead(t *testing.T) {
	for _, cfg := range []LoadConfig{{FailurePenalty: time.Second}, {InitialLatency: time.Millisecond}} {
		if _, err := NewLeastRequest(weightedPool(t, 1), cfg); err == nil {
			t.Errorf("NewLeastRequest(%+v) succeeded", cfg)
		}
		if _, err := NewLeastConn(weightedPool(t, 1), cfg); err == nil {
			t.Errorf("NewLeastConn(%+v) succeeded", cfg)
		}
		if _, err := NewPolicy("least-request", weightedPool(t, 1), PolicyConfig{Load: cfg}); err == nil {
			t.Errorf("NewPolicy(least-request, %+v) succeeded", cfg)
		}
		if _, err := NewPeakEWMA(weightedPool(t, 1), cfg); err != nil {
			t.Errorf("NewPeakEWMA(%+v) = %v", cfg, err)
		}
	}
}
