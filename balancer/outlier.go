package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Outlier detection defaults, stated on the OutlierConfig fields.
const (
	defaultConsecutiveFailures = 5
	defaultBaseEjection        = 30 * time.Second
	defaultMaxEjection         = 300 * time.Second
	defaultMaxEjectedPercent   = 50
	defaultPanicThreshold      = 50
)

// ErrPanicFailFast is returned (wrapped with ErrNoTargets) by the policy of
// an Outlier configured with FailFast while too few targets are healthy.
var ErrPanicFailFast = errors.New("balancer: too few healthy targets (fail fast)")

// OutlierConfig configures an Outlier. The zero value of each field selects
// the default documented on it.
type OutlierConfig struct {
	// Consecutive is the number of consecutive failures (transport errors,
	// timeouts, 502, 503, 504; see Result.Failed) that ejects a target.
	// Zero means 5.
	Consecutive int
	// BaseEjection is how long the first ejection of a target lasts; the
	// n-th lasts n times as long, up to MaxEjection. Zero means 30s and
	// 300s. A target that stays in for MaxEjection has its count reset.
	BaseEjection, MaxEjection time.Duration
	// MaxEjectedPercent caps the share of the pool's targets ejected at
	// once; one target may always be ejected. Zero means 50.
	MaxEjectedPercent int
	// PanicThreshold is the percentage of targets that must be healthy
	// (not ejected, not failing active checks); below it the pool is in
	// panic and ejected targets are picked again, so that load spreads
	// instead of crushing the survivors. Targets active health checks
	// hold down stay out even then: with none passing, picks fail with
	// ErrNoTargets (503 with Retry-After) at once. Zero means 50; a
	// negative value disables panic mode.
	PanicThreshold int
	// FailFast replaces panic mode: below PanicThreshold every pick fails
	// with ErrNoTargets (the proxy answers 503 with Retry-After at once).
	// NewOutlier refuses it with a negative PanicThreshold.
	FailFast bool
	// Name names the pool in log lines.
	Name string
	// Logger receives each ejection (Warn, with the pool, the target, the
	// failures and until when) and each return (Info). Nil means silent.
	Logger *slog.Logger
}

// Outlier is passive health checking: a Policy that picks with the policy
// it wraps and ejects targets of that policy's pool that fail
// consecutively. Only outcomes reported through its picks (or Observe)
// count; results marked Canceled (client gone, local errors) never do.
//
// Outlier detection and active health checks (HealthChecker) keep separate
// verdicts on a target, and it is picked only when neither holds it down
// (Target.Status), so neither undoes the other; targets held down by
// either count towards the panic threshold. Several Outliers may watch
// one pool (policies of two routes, say): a target is out while any of
// them ejects it.
//
// Outlier starts no goroutine: ejections end lazily, on the first pick
// after they expire, or on Update. It is safe for concurrent use.
type Outlier struct {
	p                        Policy
	pool                     *Pool
	consecutive              int32
	base, maxEject           time.Duration
	maxPercent, panicPercent int
	failFast                 bool
	name                     string       // the pool's name in log lines
	log                      *slog.Logger // nil: silent

	states sync.Map // *Target -> *outlierState

	// mu serialises ejections and their publication.
	mu      sync.Mutex
	next    atomic.Int64  // UnixNano of the earliest ejection end; 0 if none
	panic   atomic.Bool   // below the panic threshold
	ejected atomic.Int64  // ejections so far, for Stats
	seen    atomic.Uint64 // pool snapshot version at the last applyLocked
	closed  bool          // guarded by mu
}

type outlierState struct {
	fails atomic.Int32 // consecutive failures
	done  doneCache    // done functions of picks
	// guarded by Outlier.mu:
	ejections int       // ejections in a row, for the growing ejection time
	until     time.Time // end of the current ejection; zero when in
	back      time.Time // when the last ejection ended
	claimed   bool      // this Outlier holds the target out (Target.ejectors)
}

// OutlierStats are an Outlier's counters.
type OutlierStats struct {
	// Ejections is the number of ejections so far.
	Ejections int64
	// Ejected is the number of targets ejected now.
	Ejected int
	// Panicking reports that fewer targets than PanicThreshold are
	// healthy, so ejected targets are picked again (or, with FailFast,
	// every pick fails).
	Panicking bool
}

// NewOutlier returns outlier detection over the pool p picks from (p is a
// policy of this package or wraps one), as a policy wrapping p. It returns
// an error for a nil policy, one whose pool it cannot find, a p that
// already detects outliers (each failure would count twice), negative
// settings, or FailFast with panic mode off.
func NewOutlier(p Policy, cfg OutlierConfig) (*Outlier, error) {
	if cfg.Consecutive < 0 || cfg.BaseEjection < 0 || cfg.MaxEjection < 0 || cfg.MaxEjectedPercent < 0 || cfg.MaxEjectedPercent > 100 || cfg.PanicThreshold > 100 {
		return nil, fmt.Errorf("balancer: invalid OutlierConfig %+v", cfg)
	}
	if cfg.FailFast && cfg.PanicThreshold < 0 {
		return nil, errors.New("balancer: OutlierConfig.FailFast needs a panic threshold (PanicThreshold is negative)")
	}
	pool, err := wrappedPool("outlier detection", p)
	if err != nil {
		return nil, err
	}
	if hasWrapper[*Outlier](p) {
		return nil, errors.New("balancer: outlier detection around outlier detection would count every failure twice")
	}
	base := cmp.Or(cfg.BaseEjection, defaultBaseEjection)
	o := &Outlier{p: p, pool: pool, consecutive: int32(cmp.Or(cfg.Consecutive, defaultConsecutiveFailures)),
		base: base, maxEject: cmp.Or(cfg.MaxEjection, max(defaultMaxEjection, base)),
		maxPercent: cmp.Or(cfg.MaxEjectedPercent, defaultMaxEjectedPercent), panicPercent: cmp.Or(cfg.PanicThreshold, defaultPanicThreshold),
		failFast: cfg.FailFast, name: cfg.Name, log: cfg.Logger}
	o.seen.Store(pool.load().version)
	return o, nil
}

// Close ends o's detection: it forgets its ejections and puts the targets
// it ejected back in rotation (unless another Outlier ejected them too).
// Picks through o still work, without detection. It always returns nil.
func (o *Outlier) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.next.Store(0)
	o.panic.Store(false)
	o.states.Range(func(k, v any) bool {
		if s := v.(*outlierState); s.claimed {
			s.claimed = false
			o.pool.eject(k.(*Target), -1)
		}
		return true
	})
	o.states.Clear()
	return nil
}

func (o *Outlier) state(t *Target) *outlierState {
	if s, ok := o.states.Load(t); ok {
		return s.(*outlierState)
	}
	s, _ := o.states.LoadOrStore(t, &outlierState{})
	return s.(*outlierState)
}

// Observe records the outcome of a request to t that completed now; see
// ObserveAt.
func (o *Outlier) Observe(t *Target, res Result) { o.ObserveAt(t, res, time.Now()) }

// ObserveAt records the outcome of a request to t that completed at now.
// Canceled results are ignored; a failure increments t's consecutive
// failure count and ejects t at the threshold; any other result resets it.
func (o *Outlier) ObserveAt(t *Target, res Result, now time.Time) {
	if t == nil || res.Canceled || t.pool != o.pool {
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
	if o.closed || !s.until.IsZero() || s.fails.Load() < o.consecutive {
		return // closed, already ejected, or another goroutine just ejected it
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
	if o.log != nil {
		o.log.LogAttrs(context.Background(), slog.LevelWarn, "balancer: target ejected", slog.String("pool", o.name),
			slog.String("target", t.ID()), slog.Int("consecutive_failures", int(o.consecutive)), slog.Duration("for", d), slog.Int("ejections", s.ejections))
	}
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

// Update ends the ejections that expired by now; see UpdateAt.
func (o *Outlier) Update() { o.UpdateAt(time.Now()) }

// UpdateAt ends the ejections that expired by now and republishes them.
// Picks call it when an ejection is due to end.
func (o *Outlier) UpdateAt(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	next := int64(0)
	o.states.Range(func(k, v any) bool {
		s := v.(*outlierState)
		if s.until.IsZero() {
			return true
		}
		if !now.Before(s.until) {
			s.until, s.back = time.Time{}, now
			s.fails.Store(0)
			if o.log != nil {
				o.log.LogAttrs(context.Background(), slog.LevelInfo, "balancer: ejected target back", slog.String("pool", o.name), slog.String("target", k.(*Target).ID()))
			}
		} else if u := s.until.UnixNano(); next == 0 || u < next {
			next = u
		}
		return true
	})
	o.next.Store(next)
	o.applyLocked()
}

// refresh republishes o's ejections when the pool changed since it last
// did (a target added, removed or held down by health checks, which moves
// the panic threshold).
func (o *Outlier) refresh() {
	if o.pool.load().version == o.seen.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.applyLocked()
	}
}

// applyLocked publishes each target's ejection to the pool (none in panic
// mode, unless FailFast) and forgets removed targets.
func (o *Outlier) applyLocked() {
	ts := o.pool.Targets()
	live := make(map[*Target]bool, len(ts))
	up := 0
	for _, t := range ts {
		live[t] = true
		if !o.ejectedLocked(t) && t.down.Load()&downChecked == 0 {
			up++
		}
	}
	o.states.Range(func(k, v any) bool {
		if t := k.(*Target); !live[t] {
			if s := v.(*outlierState); s.claimed {
				s.claimed = false
				o.pool.eject(t, -1)
			}
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
		want := o.ejectedLocked(t) && (!panicking || o.failFast)
		if v, ok := o.states.Load(t); ok && v.(*outlierState).claimed != want {
			v.(*outlierState).claimed = want
			delta := int32(-1)
			if want {
				delta = 1
			}
			o.pool.eject(t, delta)
		}
	}
	o.seen.Store(o.pool.load().version)
}

func (o *Outlier) ejectedLocked(t *Target) bool {
	v, ok := o.states.Load(t)
	return ok && !v.(*outlierState).until.IsZero()
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

// Stats returns o's counters.
func (o *Outlier) Stats() OutlierStats {
	o.refresh()
	o.mu.Lock()
	defer o.mu.Unlock()
	st := OutlierStats{Ejections: o.ejected.Load(), Panicking: o.panic.Load()}
	o.states.Range(func(_, v any) bool {
		if !v.(*outlierState).until.IsZero() {
			st.Ejected++
		}
		return true
	})
	return st
}

// Unwrap returns the wrapped policy.
func (o *Outlier) Unwrap() Policy { return o.p }

func (o *Outlier) targetPool() *Pool { return o.pool }

// Pick picks with the wrapped policy and reports the outcome passed to
// done to outlier detection. A pick first ends the ejections that are
// due; with FailFast, picks fail with ErrNoTargets while the pool is
// below the panic threshold.
func (o *Outlier) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := o.pickKeyed(ctx, key)
	return t, done, err
}

func (o *Outlier) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	if n := o.next.Load(); n != 0 && time.Now().UnixNano() >= n {
		o.UpdateAt(time.Now())
	} else {
		o.refresh()
	}
	if o.failFast && o.panic.Load() {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrNoTargets, ErrPanicFailFast)
	}
	t, done, id, err := pickKeyed(ctx, o.p, key)
	if err != nil {
		return nil, nil, nil, err
	}
	fn, wid := o.state(t).done.get(id, done, func(done func(Result)) func(Result) {
		return func(res Result) {
			end := res.End
			if end.IsZero() {
				end = time.Now()
			}
			o.ObserveAt(t, res, end)
			done(res)
		}
	})
	return t, fn, wid, nil
}
