package balancer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Slow start defaults, from reference/RELIABILITY.md §6.4.
const (
	DefaultSlowStartWindow = 30 * time.Second
	DefaultSlowStartMin    = 0.1
)

// SlowStartConfig configures a SlowStart. The zero value of each field
// selects the default documented on it.
type SlowStartConfig struct {
	// Window is how long a new or recovered target takes to reach its full
	// share. Zero means DefaultSlowStartWindow (30s).
	Window time.Duration
	// MinFactor is the share a target starts at, as a fraction of its
	// full share, in (0, 1]. Zero means DefaultSlowStartMin (0.1).
	MinFactor float64
}

// SlowStart ramps up the share of targets that join a pool or become
// healthy again (after health checks, ejection or panic) linearly from
// MinFactor to their full share over Window, so that a cold target is not
// flooded. It wraps any Policy: a pick of a ramping target is kept with
// probability equal to its factor, and otherwise the wrapped policy is
// asked again (up to three times). Targets in the pool when the SlowStart
// is created are taken as warm. SlowStart is safe for concurrent use and
// starts no goroutine: it notices pool changes on the next pick.
type SlowStart struct {
	p       Policy
	pool    *Pool
	window  time.Duration
	min     float64
	version atomic.Uint64 // pool snapshot version last scanned
	ramping atomic.Int64  // targets ramping, to skip the work when zero

	// mu guards up and since.
	mu    sync.Mutex
	up    map[*Target]bool      // health seen at the last scan
	since map[*Target]time.Time // start of each ramp in progress
}

// NewSlowStart returns a policy that picks with p over pool's targets and
// ramps up new and recovered ones. It returns an error for a nil pool or
// policy or invalid settings.
func NewSlowStart(pool *Pool, p Policy, cfg SlowStartConfig) (*SlowStart, error) {
	if pool == nil || p == nil {
		return nil, errors.New("balancer: slow start needs a pool and a policy")
	}
	if cfg.Window < 0 || cfg.MinFactor < 0 || cfg.MinFactor > 1 {
		return nil, fmt.Errorf("balancer: invalid SlowStartConfig %+v", cfg)
	}
	s := &SlowStart{p: p, pool: pool, window: cfg.Window, min: cfg.MinFactor,
		up: map[*Target]bool{}, since: map[*Target]time.Time{}}
	if s.window == 0 {
		s.window = DefaultSlowStartWindow
	}
	if s.min == 0 {
		s.min = DefaultSlowStartMin
	}
	snap := pool.load()
	for _, t := range snap.all {
		s.up[t] = t.Healthy()
	}
	s.version.Store(snap.version)
	return s, nil
}

var _ Policy = (*SlowStart)(nil)

// scanAt starts a ramp at now for every target that is new or healthy
// again since the last scan, and forgets removed targets.
func (s *SlowStart) scanAt(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.pool.load()
	if snap.version == s.version.Load() {
		return
	}
	live := make(map[*Target]bool, len(snap.all))
	for _, t := range snap.all {
		live[t] = true
		h := t.Healthy()
		if prev, seen := s.up[t]; h && (!seen || !prev) {
			s.startLocked(t, now)
		}
		s.up[t] = h
	}
	for t := range s.up {
		if !live[t] {
			delete(s.up, t)
			if _, ok := s.since[t]; ok {
				delete(s.since, t)
				s.ramping.Add(-1)
			}
		}
	}
	s.version.Store(snap.version)
}

func (s *SlowStart) startLocked(t *Target, now time.Time) {
	if _, ok := s.since[t]; !ok {
		s.ramping.Add(1)
	}
	s.since[t] = now
}

// StartAt starts (or restarts) t's ramp at now, for callers that know
// better than the pool's health flags when t came back.
func (s *SlowStart) StartAt(t *Target, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked(t, now)
}

// FactorAt returns t's share factor at now: from MinFactor at the start of
// its ramp to 1 at the end of the window, 1 when it is not ramping.
func (s *SlowStart) FactorAt(t *Target, now time.Time) float64 {
	if s.ramping.Load() == 0 {
		return 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	start, ok := s.since[t]
	if !ok {
		return 1
	}
	el := now.Sub(start)
	if el >= s.window {
		delete(s.since, t)
		s.ramping.Add(-1)
		return 1
	}
	return max(s.min, float64(max(el, 0))/float64(s.window))
}

// Unwrap returns the wrapped policy.
func (s *SlowStart) Unwrap() Policy { return s.p }

// Pick picks with the wrapped policy, keeping a ramping target only with
// probability equal to its factor.
func (s *SlowStart) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	if s.pool.load().version != s.version.Load() {
		s.scanAt(time.Now())
	}
	for i := 0; ; i++ {
		k := key
		if key != "" && i > 0 {
			// A hashing policy answers a key with the same target:
			// ask with derived keys, as Breaker does, so that the
			// re-pick can land elsewhere.
			k += "\x00" + strconv.Itoa(i)
		}
		t, done, err := s.p.Pick(ctx, k)
		if err != nil || i == 3 || s.ramping.Load() == 0 {
			return t, done, err
		}
		if f := s.FactorAt(t, time.Now()); f >= 1 || rand.Float64() < f {
			return t, done, nil
		}
		done(Result{Canceled: true})
	}
}
