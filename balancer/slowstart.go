package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Slow start defaults, stated on the SlowStartConfig fields.
const (
	defaultSlowStartWindow = 30 * time.Second
	defaultSlowStartMin    = 0.1
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

// NewSlowStart returns a policy that picks with p and ramps up the new and
// recovered targets of p's pool (p is a policy of this package or wraps
// one). It returns an error for a nil policy, one whose pool it cannot
// find, a p that already ramps (slow start around slow start would ramp
// twice as steeply) or invalid settings.
func NewSlowStart(p Policy, cfg SlowStartConfig) (*SlowStart, error) {
	if cfg.Window < 0 || cfg.MinFactor < 0 || cfg.MinFactor > 1 {
		return nil, fmt.Errorf("balancer: invalid SlowStartConfig %+v", cfg)
	}
	pool, err := wrappedPool("slow start", p)
	if err != nil {
		return nil, err
	}
	if hasWrapper[*SlowStart](p) {
		return nil, errors.New("balancer: slow start around slow start would ramp targets up twice")
	}
	s := &SlowStart{p: p, pool: pool, window: cmp.Or(cfg.Window, defaultSlowStartWindow), min: cmp.Or(cfg.MinFactor, defaultSlowStartMin),
		up: map[*Target]bool{}, since: map[*Target]time.Time{}}
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

// Start starts (or restarts) t's ramp now; see StartAt.
func (s *SlowStart) Start(t *Target) { s.StartAt(t, time.Now()) }

// StartAt starts (or restarts) t's ramp at now, for callers that know
// better than the pool's health flags when t came back.
func (s *SlowStart) StartAt(t *Target, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startLocked(t, now)
}

// Factor returns t's share factor now; see FactorAt.
func (s *SlowStart) Factor(t *Target) float64 { return s.FactorAt(t, time.Now()) }

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

func (s *SlowStart) targetPool() *Pool { return s.pool }

// Pick picks with the wrapped policy, keeping a ramping target only with
// probability equal to its factor.
func (s *SlowStart) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := s.pickKeyed(ctx, key)
	return t, done, err
}

func (s *SlowStart) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	if s.pool.load().version != s.version.Load() {
		s.scanAt(time.Now())
	}
	asks := 0
	t, done, id, err := pickUntil(ctx, s.p, key, func(t *Target) bool {
		// The fourth ask is kept whatever its factor, so that a pool of
		// ramping targets still serves.
		asks++
		if asks == 4 || s.ramping.Load() == 0 {
			return true
		}
		f := s.FactorAt(t, time.Now())
		return f >= 1 || rand.Float64() < f
	})
	if t == nil && err == nil {
		return nil, nil, nil, fmt.Errorf("%w: slow start refused every pick", ErrNoTargets)
	}
	return t, done, id, err
}
