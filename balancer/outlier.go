package balancer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Outlier detection defaults, from reference/RELIABILITY.md §6.4.
const (
	DefaultConsecutiveFailures = 5
	DefaultBaseEjection        = 30 * time.Second
	DefaultMaxEjection         = 300 * time.Second
	DefaultMaxEjectedPercent   = 50
	DefaultPanicThreshold      = 50
)

// ErrPanicFailFast is returned (wrapped with ErrNoTargets) by the policy of
// an Outlier configured with FailFast while too few targets are healthy.
var ErrPanicFailFast = errors.New("balancer: too few healthy targets (fail fast)")

// OutlierConfig configures an Outlier. The zero value of each field selects
// the default documented on it.
type OutlierConfig struct {
	// Consecutive is the number of consecutive failures (transport errors,
	// timeouts, 502, 503, 504; see Result.Failed) that ejects a target.
	// Zero means DefaultConsecutiveFailures (5).
	Consecutive int
	// BaseEjection is how long the first ejection of a target lasts; the
	// n-th lasts n times as long, up to MaxEjection. Zero means
	// DefaultBaseEjection (30s) and DefaultMaxEjection (300s). A target
	// that stays in for MaxEjection has its count reset.
	BaseEjection, MaxEjection time.Duration
	// MaxEjectedPercent caps the share of the pool's targets ejected at
	// once; one target may always be ejected. Zero means
	// DefaultMaxEjectedPercent (50).
	MaxEjectedPercent int
	// PanicThreshold is the percentage of targets that must be healthy
	// (not ejected, not failing active checks); below it the pool is in
	// panic and ejected targets are picked again, so that load spreads
	// instead of crushing the survivors. Targets active health checks
	// hold down stay out even then: with none passing, picks fail with
	// ErrNoTargets (503 with Retry-After) at once. Zero means
	// DefaultPanicThreshold (50); a negative value disables panic mode.
	PanicThreshold int
	// FailFast replaces panic mode: below PanicThreshold every pick fails
	// with ErrNoTargets (the proxy answers 503 with Retry-After at once).
	FailFast bool
}

// Outlier ejects targets of a pool that fail consecutively (passive health
// checking) and combines that with active health check results
// (HealthConfig.Outlier) into the pool's health flags. Only outcomes
// reported through the policy returned by Wrap (or ObserveAt) count;
// results marked Canceled (client gone, local errors) never do.
//
// Outlier starts no goroutine: ejections end lazily, on the first pick
// after they expire, or on UpdateAt. It is safe for concurrent use.
type Outlier struct {
	pool                     *Pool
	consecutive              int32
	base, maxEject           time.Duration
	maxPercent, panicPercent int
	failFast                 bool

	states sync.Map // *Target -> *outlierState

	// mu serialises ejections and health publication.
	mu      sync.Mutex
	next    atomic.Int64 // UnixNano of the earliest ejection end; 0 if none
	panic   atomic.Bool  // below the panic threshold
	ejected atomic.Int64 // ejections so far, for metrics
	newDown atomic.Bool  // targets start checked down (health checks with Initial StateDown)
}

type outlierState struct {
	fails atomic.Int32 // consecutive failures
	done  doneCache    // done functions of picks through Wrap
	// guarded by Outlier.mu:
	ejections   int       // ejections in a row, for the growing ejection time
	until       time.Time // end of the current ejection; zero when in
	back        time.Time // when the last ejection ended
	checkedDown bool      // active health checks say down
}

// NewOutlier returns an outlier detector for pool. It returns an error for
// a nil pool or negative settings.
func NewOutlier(pool *Pool, cfg OutlierConfig) (*Outlier, error) {
	if pool == nil {
		return nil, errors.New("balancer: outlier detection needs a pool")
	}
	if cfg.Consecutive < 0 || cfg.BaseEjection < 0 || cfg.MaxEjection < 0 || cfg.MaxEjectedPercent < 0 || cfg.MaxEjectedPercent > 100 || cfg.PanicThreshold > 100 {
		return nil, fmt.Errorf("balancer: invalid OutlierConfig %+v", cfg)
	}
	o := &Outlier{pool: pool, consecutive: int32(cfg.Consecutive), base: cfg.BaseEjection, maxEject: cfg.MaxEjection,
		maxPercent: cfg.MaxEjectedPercent, panicPercent: cfg.PanicThreshold, failFast: cfg.FailFast}
	if o.consecutive == 0 {
		o.consecutive = DefaultConsecutiveFailures
	}
	if o.base == 0 {
		o.base = DefaultBaseEjection
	}
	if o.maxEject == 0 {
		o.maxEject = max(DefaultMaxEjection, o.base)
	}
	if o.maxPercent == 0 {
		o.maxPercent = DefaultMaxEjectedPercent
	}
	if o.panicPercent == 0 {
		o.panicPercent = DefaultPanicThreshold
	}
	return o, nil
}

func (o *Outlier) state(t *Target) *outlierState {
	if s, ok := o.states.Load(t); ok {
		return s.(*outlierState)
	}
	s, _ := o.states.LoadOrStore(t, &outlierState{checkedDown: o.newDown.Load()})
	return s.(*outlierState)
}

// ObserveAt records the outcome of a request to t that completed at now.
// Canceled results are ignored; a failure increments t's consecutive
// failure count and ejects t at the threshold; any other result resets it.
func (o *Outlier) ObserveAt(t *Target, res Result, now time.Time) {
	if t == nil || res.Canceled {
		return
	}
	s := o.state(t)
	if !res.Failed() {
		if s.fails.Load() != 0 {
			s.fails.Store(0)
		}
		return
	}
	if s.fails.Add(1) < o.consecutive {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !s.until.IsZero() || s.fails.Load() < o.consecutive {
		return // already ejected, or another goroutine just ejected it
	}
	s.fails.Store(0)
	if !o.canEjectLocked() {
		return
	}
	if !s.back.IsZero() && now.Sub(s.back) >= o.maxEject {
		s.ejections = 0
	}
	s.ejections++
	d := min(o.base*time.Duration(s.ejections), o.maxEject)
	s.until = now.Add(d)
	o.ejected.Add(1)
	if n := o.next.Load(); n == 0 || s.until.UnixNano() < n {
		o.next.Store(s.until.UnixNano())
	}
	o.applyLocked()
}

// canEjectLocked reports whether one more target may be ejected.
func (o *Outlier) canEjectLocked() bool {
	ts := o.pool.Targets()
	limit := max(1, len(ts)*o.maxPercent/100)
	n := 0
	for _, t := range ts {
		if s, ok := o.states.Load(t); ok && !s.(*outlierState).until.IsZero() {
			n++
		}
	}
	return n < limit
}

// UpdateAt ends the ejections that expired by now and republishes health.
// Picks through Wrap call it when an ejection is due to end.
func (o *Outlier) UpdateAt(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := int64(0)
	o.states.Range(func(k, v any) bool {
		s := v.(*outlierState)
		if s.until.IsZero() {
			return true
		}
		if !now.Before(s.until) {
			s.until, s.back = time.Time{}, now
			s.fails.Store(0)
		} else if u := s.until.UnixNano(); next == 0 || u < next {
			next = u
		}
		return true
	})
	o.next.Store(next)
	o.applyLocked()
}

// setChecked records an active health check verdict for t.
func (o *Outlier) setChecked(t *Target, healthy bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.state(t)
	if s.checkedDown == !healthy {
		return
	}
	s.checkedDown = !healthy
	o.applyLocked()
}

// applyLocked publishes each target's combined health to the pool, or
// every target as healthy in panic mode, and forgets removed targets.
func (o *Outlier) applyLocked() {
	ts := o.pool.Targets()
	live := make(map[*Target]bool, len(ts))
	up := 0
	for _, t := range ts {
		live[t] = true
		if o.wantUp(t) {
			up++
		}
	}
	o.states.Range(func(k, _ any) bool {
		if !live[k.(*Target)] {
			o.states.Delete(k)
		}
		return true
	})
	panicking := o.panicPercent > 0 && len(ts) > 0 && up*100 < o.panicPercent*len(ts)
	o.panic.Store(panicking)
	for _, t := range ts {
		// Panic spreads load over ejected targets, never over those
		// active health checks hold down: with none passing them,
		// picks fail (503 with Retry-After) instead of waiting on
		// dead targets.
		o.pool.SetHealthy(t, o.wantUp(t) || (panicking && !o.failFast && !o.checkedDownLocked(t)))
	}
}

func (o *Outlier) wantUp(t *Target) bool {
	v, ok := o.states.Load(t)
	if !ok {
		return !o.newDown.Load()
	}
	s := v.(*outlierState)
	return s.until.IsZero() && !s.checkedDown
}

func (o *Outlier) checkedDownLocked(t *Target) bool {
	v, ok := o.states.Load(t)
	return ok && v.(*outlierState).checkedDown
}

// Ejected reports whether t is ejected, and until when.
func (o *Outlier) Ejected(t *Target) (until time.Time, ejected bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := o.states.Load(t); ok {
		s := v.(*outlierState)
		return s.until, !s.until.IsZero()
	}
	return time.Time{}, false
}

// Panicking reports whether fewer targets than PanicThreshold are healthy.
func (o *Outlier) Panicking() bool { return o.panic.Load() }

// Ejections returns the number of ejections so far.
func (o *Outlier) Ejections() int64 { return o.ejected.Load() }

// Wrap returns a policy that picks with p and reports every outcome to o.
// A pick first ends the ejections that are due; with FailFast, picks fail
// with ErrNoTargets while the pool is below the panic threshold.
func (o *Outlier) Wrap(p Policy) Policy { return &outlierPolicy{o: o, p: p} }

type outlierPolicy struct {
	o *Outlier
	p Policy
}

// Unwrap returns the wrapped policy.
func (op *outlierPolicy) Unwrap() Policy { return op.p }

func (op *outlierPolicy) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	o := op.o
	if n := o.next.Load(); n != 0 && time.Now().UnixNano() >= n {
		o.UpdateAt(time.Now())
	}
	if o.failFast && o.panic.Load() {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoTargets, ErrPanicFailFast)
	}
	t, done, err := op.p.Pick(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	return t, o.state(t).done.get(done, func(done func(Result)) func(Result) {
		return func(res Result) {
			end := res.End
			if end.IsZero() {
				end = time.Now()
			}
			o.ObserveAt(t, res, end)
			done(res)
		}
	}), nil
}
