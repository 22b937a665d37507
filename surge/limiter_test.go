package surge

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewLimiterRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LimiterConfig
	}{
		{"unknown algorithm", LimiterConfig{Algorithm: 7}},
		{"unknown order", LimiterConfig{Order: 3}},
		{"negative limit", LimiterConfig{MinLimit: -1}},
		{"min above max", LimiterConfig{MinLimit: 10, MaxLimit: 5}},
		{"initial below min", LimiterConfig{MinLimit: 10, InitialLimit: 5}},
		{"initial above max", LimiterConfig{MaxLimit: 10, InitialLimit: 50}},
		{"tolerance below 1", LimiterConfig{Tolerance: 0.5}},
		{"tolerance NaN", LimiterConfig{Tolerance: math.NaN()}},
		{"backoff 1", LimiterConfig{Backoff: 1}},
		{"negative window", LimiterConfig{Window: -time.Second}},
		{"negative wait", LimiterConfig{MaxWait: -time.Second}},
		{"negative retry", LimiterConfig{RetryAfter: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLimiter(tc.cfg); err == nil {
				t.Fatalf("NewLimiter(%+v) = nil error, want one", tc.cfg)
			}
		})
	}
}

func TestNewLimiterDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LimiterConfig
		want int
	}{
		{"zero", LimiterConfig{}, DefaultInitialLimit},
		{"max below default initial", LimiterConfig{MaxLimit: 3}, 3},
		{"min above default initial", LimiterConfig{MinLimit: 30}, 30},
		{"explicit", LimiterConfig{InitialLimit: 7}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustLimiter(t, tc.cfg).Limit(); got != tc.want {
				t.Fatalf("Limit() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestTryAcquireShedsOverTheLimit(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 2, MinLimit: 1, MaxLimit: 2})
	a, err1 := l.TryAcquireAt(t0)
	b, err2 := l.TryAcquireAt(t0)
	_, err3 := l.TryAcquireAt(t0)
	if err1 != nil || err2 != nil {
		t.Fatalf("first two TryAcquireAt = %v, %v; want admitted", err1, err2)
	}
	var se *ShedError
	if !errors.As(err3, &se) || !errors.Is(err3, ErrLimit) || se.RetryAfter != DefaultRetryAfter {
		t.Fatalf("third TryAcquireAt = %v, want a *ShedError wrapping ErrLimit with RetryAfter %v", err3, DefaultRetryAfter)
	}
	a.ReleaseAt(t0.Add(time.Millisecond), Success)
	if _, err := l.TryAcquireAt(t0); err != nil {
		t.Fatalf("TryAcquireAt after a release = %v, want admitted", err)
	}
	b.ReleaseAt(t0, Ignored)
	Token{}.ReleaseAt(t0, Success) // the zero token is no slot
	st := l.Stats()
	if st.Arrivals != 4 || st.Admitted != 3 || st.Shed != 1 || st.InFlight != 1 {
		t.Fatalf("Stats() = %+v, want 4 arrivals, 3 admitted, 1 shed, 1 in flight", st)
	}
}

func TestSetLimitClamps(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{MinLimit: 2, MaxLimit: 50})
	for _, tc := range []struct{ set, want int }{{10, 10}, {1, 2}, {500, 50}} {
		l.SetLimit(tc.set)
		if got := l.Limit(); got != tc.want {
			t.Errorf("SetLimit(%d): Limit() = %d, want %d", tc.set, got, tc.want)
		}
	}
}

// TestInFlightNeverExceedsLimit has many goroutines acquire and release
// through a fixed limit and checks that no more than the limit hold a slot
// at once, and that every slot comes back.
func TestInFlightNeverExceedsLimit(t *testing.T) {
	const limit = 4
	l := mustLimiter(t, LimiterConfig{InitialLimit: limit, MinLimit: limit, MaxLimit: limit, MaxWait: time.Second})
	var holding, worst atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				var tok Token
				var err error
				if (g+i)%2 == 0 {
					tok, err = l.TryAcquire()
				} else {
					tok, err = l.Acquire(t.Context(), Priority(i%3))
				}
				if err != nil {
					continue
				}
				n := holding.Add(1)
				for w := worst.Load(); n > w && !worst.CompareAndSwap(w, n); w = worst.Load() {
				}
				holding.Add(-1)
				tok.Release(Outcome(i % 3))
			}
		}()
	}
	wg.Wait()
	if w := worst.Load(); w > limit {
		t.Errorf("%d slots held at once, limit %d", w, limit)
	}
	if st := l.Stats(); st.InFlight != 0 || st.Queued != 0 || st.Admitted+st.Shed != st.Arrivals {
		t.Errorf("after all released: Stats() = %+v, want nothing in flight or queued, admitted+shed = arrivals", st)
	}
}
