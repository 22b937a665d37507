package surge

import (
	"container/heap"
	"math"
	"testing"
	"time"
)

// sim drives a Limiter with an open-loop arrival process against a
// simulated backend of n servers with a FIFO queue, in virtual time: the
// limit dynamics without sleeping. The backend answers in service time
// (plus its queue), or fails fast while failing is set.
type sim struct {
	l       *Limiter
	now     time.Time
	servers serverHeap // when each server is next free
	done    doneHeap   // admitted requests in flight, by completion
	service time.Duration
	fail    Outcome // outcome of requests while failing; Success when healthy
	served  int     // successes since the last reset
}

type pending struct {
	at  time.Time
	tok Token
	o   Outcome
}

type serverHeap []time.Time

func (h serverHeap) Len() int           { return len(h) }
func (h serverHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h serverHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *serverHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *serverHeap) Pop() any          { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }

type doneHeap []pending

func (h doneHeap) Len() int           { return len(h) }
func (h doneHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h doneHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *doneHeap) Push(x any)        { *h = append(*h, x.(pending)) }
func (h *doneHeap) Pop() any          { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }

func newSim(l *Limiter, servers int, service time.Duration) *sim {
	s := &sim{l: l, now: t0, service: service}
	for range servers {
		s.servers = append(s.servers, t0)
	}
	return s
}

// run offers rate requests per second for d, and returns the limit at
// the end of each second.
func (s *sim) run(rate float64, d time.Duration) []int {
	var limits []int
	step := time.Duration(float64(time.Second) / rate)
	end := s.now.Add(d)
	nextSecond := s.now.Add(time.Second)
	for s.now.Before(end) {
		s.now = s.now.Add(step)
		for len(s.done) > 0 && !s.done[0].at.After(s.now) {
			p := heap.Pop(&s.done).(pending)
			p.tok.ReleaseAt(p.at, p.o)
			if p.o == Success {
				s.served++
			}
		}
		for !s.now.Before(nextSecond) {
			limits = append(limits, s.l.Limit())
			nextSecond = nextSecond.Add(time.Second)
		}
		tok, err := s.l.TryAcquireAt(s.now)
		if err != nil {
			continue
		}
		if s.fail != Success {
			heap.Push(&s.done, pending{at: s.now.Add(s.service / 10), tok: tok, o: s.fail})
			continue
		}
		start := s.servers[0]
		if start.Before(s.now) {
			start = s.now
		}
		s.servers[0] = start.Add(s.service)
		heap.Fix(&s.servers, 0)
		heap.Push(&s.done, pending{at: start.Add(s.service), tok: tok, o: Success})
	}
	return limits
}

func maxOf(xs []int) int {
	m := math.MinInt
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func minOf(xs []int) int {
	m := math.MaxInt
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

// The simulated backend serves simServers requests at once in simService
// each: its capacity is simServers/simService, 500 requests a second.
const (
	simServers = 10
	simService = 20 * time.Millisecond
	simCap     = float64(simServers) / 0.020
)

var algorithms = []Algorithm{AIMD, Gradient}

// TestLimitDoesNotCreepUnderMildOverload offers 1.2 times the backend's
// capacity for two virtual minutes: the limit must settle near the point
// where the backend starts queueing and stay there, the backend must stay
// busy, and the limit in the last 20 seconds must not exceed what it was
// in the first 30.
func TestLimitDoesNotCreepUnderMildOverload(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{Algorithm: algo, MinLimit: 2})
			s := newSim(l, simServers, simService)
			limits := s.run(1.2*simCap, 120*time.Second)
			early, late := maxOf(limits[5:30]), maxOf(limits[100:])
			if late > early {
				t.Errorf("limit crept up: at most %d in seconds 5-30, %d in seconds 100-120 (%v)", early, late, limits)
			}
			if late > 2*simServers || minOf(limits[5:]) < simServers/2 {
				t.Errorf("limits %v outside [%d, %d] after warm-up", limits[5:], simServers/2, 2*simServers)
			}
			if got := float64(s.served) / 120; got < 0.9*simCap {
				t.Errorf("served %.0f requests/s, want at least 90%% of capacity %.0f", got, simCap)
			}
			if st := l.Stats(); st.Baseline < simService || st.Baseline > simService*11/10 {
				t.Errorf("Baseline = %v, want about the service time %v", st.Baseline, simService)
			}
		})
	}
}

// TestLimitFallsOnDropsAndRecovers runs a healthy backend under twice its
// capacity, makes it fail fast (drops), then heals it: the limit must fall
// to MinLimit while it fails and climb back to at least the backend's
// concurrency within two seconds of healing.
func TestLimitFallsOnDropsAndRecovers(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{Algorithm: algo, MinLimit: 2})
			s := newSim(l, simServers, simService)
			healthy := s.run(2*simCap, 10*time.Second)
			s.fail = Dropped
			failing := s.run(2*simCap, 10*time.Second)
			s.fail = Success
			healed := s.run(2*simCap, 5*time.Second)
			if got := healthy[len(healthy)-1]; got < simServers {
				t.Fatalf("healthy limit %d (%v), want at least %d", got, healthy, simServers)
			}
			if got := failing[len(failing)-1]; got != 2 {
				t.Errorf("limit after failing %v, want MinLimit 2 (%v)", got, failing)
			}
			if got := healed[1]; got < simServers {
				t.Errorf("limit 2s after healing %d (%v), want at least %d", got, healed, simServers)
			}
		})
	}
}

// TestIgnoredOutcomesLeaveTheLimit checks that requests released as
// Ignored (client cancellations, 4xx) do not move the limit, however
// many there are.
func TestIgnoredOutcomesLeaveTheLimit(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{Algorithm: algo, MinLimit: 2})
			s := newSim(l, simServers, simService)
			before := s.run(2*simCap, 10*time.Second)
			s.fail = Ignored
			ignored := s.run(2*simCap, 10*time.Second)
			// Requests admitted before still complete in the first
			// second, and their last window may close up to
			// maxWindows*Window later.
			want := ignored[2]
			for i, got := range ignored[2:] {
				if got != want {
					t.Fatalf("limit %d s into ignored outcomes = %d, want %d unchanged (before: %v)", i+3, got, want, before)
				}
			}
		})
	}
}

// TestLimitGrowsOnlyWhenUsed checks that light traffic, far below the
// limit, leaves it where it is: nothing shows that a higher limit is
// needed.
func TestLimitGrowsOnlyWhenUsed(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{MinLimit: 2})
	s := newSim(l, simServers, simService)
	limits := s.run(0.2*simCap, 30*time.Second) // 2 in flight on average, limit 20
	if got := maxOf(limits); got != DefaultInitialLimit {
		t.Errorf("limit under light load reached %d, want %d unchanged (%v)", got, DefaultInitialLimit, limits)
	}
}

// TestLimitRelearnsASlowerBackend makes the backend three times slower for
// good under the same overload: the limit first falls (the slower answers
// look like queueing), then, at the low limit, learns the new no-load
// latency and climbs back to at least the backend's concurrency.
func TestLimitRelearnsASlowerBackend(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{Algorithm: algo, MinLimit: 2})
			s := newSim(l, simServers, simService)
			s.run(1.2*simCap, 10*time.Second)
			s.service = 3 * simService
			limits := s.run(1.2*simCap/3, 60*time.Second)
			if got := minOf(limits); got >= simServers {
				t.Errorf("limit never fell after the slowdown (%v)", limits)
			}
			if got := limits[len(limits)-1]; got < simServers {
				t.Errorf("limit %d a minute after the slowdown, want at least %d (%v)", got, simServers, limits)
			}
			// The baseline moves only while the limit sits low, so it
			// may stop short of the new latency: enough to stop
			// reading the new normal as queueing.
			if st := l.Stats(); st.Baseline < 2*simService || st.Baseline > 3*simService*11/10 {
				t.Errorf("Baseline = %v, want between %v and about the new service time %v", st.Baseline, 2*simService, 3*simService)
			}
		})
	}
}

// TestSlowWindowsAtLowLoadLeaveTheLimit gives a lightly used limiter (one
// request in flight, limit 20) a slow window now and then, as a pause or
// a backend hiccup does: the limit must stay, since lowering it would
// only shed the next burst.
func TestSlowWindowsAtLowLoadLeaveTheLimit(t *testing.T) {
	for _, algo := range algorithms {
		t.Run(algo.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{Algorithm: algo, MinLimit: 2})
			now := t0
			for w := range 100 {
				lat := 10 * time.Millisecond
				if w%3 == 2 {
					lat = 50 * time.Millisecond
				}
				for range minSamples {
					tok, err := l.TryAcquireAt(now)
					if err != nil {
						t.Fatal(err)
					}
					now = now.Add(lat)
					tok.ReleaseAt(now, Success)
				}
			}
			if got := l.Limit(); got != DefaultInitialLimit {
				t.Errorf("limit after slow windows at low load = %d, want %d", got, DefaultInitialLimit)
			}
		})
	}
}
