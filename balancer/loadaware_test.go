package balancer

import (
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
