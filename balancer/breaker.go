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

// Circuit breaking defaults, stated on the BreakerConfig fields.
const (
	defaultMaxInFlight = 256
	defaultMaxWait     = time.Second
)

// ErrCircuitOpen is returned (wrapped with ErrNoTargets) by a Breaker when
// every target it was offered is at its in-flight limit and the request
// may not wait. The proxy answers 503 with Retry-After; the targets are
// not blamed.
var ErrCircuitOpen = errors.New("balancer: every target is at its in-flight limit")

// BreakerConfig configures a Breaker. The zero value of each field selects
// the default documented on it.
type BreakerConfig struct {
	// MaxInFlight is the most requests in flight to one target through
	// this breaker. Zero means 256.
	MaxInFlight int
	// MaxWaiting is the most requests that may wait, over all targets,
	// for a slot when every target offered is full. Zero means none wait:
	// such requests fail at once.
	MaxWaiting int
	// MaxWait bounds one request's wait for a slot. Zero means 1s. It
	// needs MaxWaiting: NewBreaker refuses it without.
	MaxWait time.Duration
	// Name names the pool in log lines.
	Name string
	// Logger receives a Warn record when picks start failing with
	// ErrCircuitOpen (the breaker trips), with the pool, the in-flight
	// limit and the rejections since the last record; at most one record
	// per second, so that an overload does not flood the log. Nil means
	// silent.
	Logger *slog.Logger
}

// Breaker caps the requests in flight to each target of a policy (Envoy's
// max_requests and max_pending_requests). A pick of a full target is
// returned and another is tried; when every target offered is full, the
// request waits (up to MaxWaiting requests for up to
// MaxWait) or fails with ErrCircuitOpen. Rejections are local outcomes:
// the wrapped policy sees them as Canceled. Breaker is a Policy and is
// safe for concurrent use.
//
// It composes with the other wrappers in any order: its rejections are
// errors from Pick, which no done function (and so no outlier detection)
// sees, and under SlowStart or an Outlier it still waits for a slot, as
// every wrapper passes the request's context on.
type Breaker struct {
	p        Policy
	max      int64
	maxWait  int64
	waitTime time.Duration

	counts   sync.Map      // *Target -> *breakerSlot
	version  atomic.Uint64 // pool snapshot version counts were last pruned at
	waiting  atomic.Int64
	rejected atomic.Int64
	name     string
	log      *slog.Logger
	logged   atomic.Int64 // UnixNano of the last trip record
	reported atomic.Int64 // rejected at the last trip record

	// mu guards free, a channel closed (and replaced) when a slot frees.
	mu   sync.Mutex
	free chan struct{}
}

// NewBreaker returns a breaker around p. It returns an error for a nil
// policy or negative settings.
func NewBreaker(p Policy, cfg BreakerConfig) (*Breaker, error) {
	if p == nil {
		return nil, errors.New("balancer: circuit breaking needs a policy")
	}
	if cfg.MaxInFlight < 0 || cfg.MaxWaiting < 0 || cfg.MaxWait < 0 {
		return nil, fmt.Errorf("balancer: invalid BreakerConfig %+v", cfg)
	}
	if cfg.MaxWait > 0 && cfg.MaxWaiting == 0 {
		return nil, errors.New("balancer: BreakerConfig.MaxWait without MaxWaiting: no request would wait")
	}
	return &Breaker{p: p, max: int64(cmp.Or(cfg.MaxInFlight, defaultMaxInFlight)), maxWait: int64(cfg.MaxWaiting),
		waitTime: cmp.Or(cfg.MaxWait, defaultMaxWait), free: make(chan struct{}), name: cfg.Name, log: cfg.Logger}, nil
}

// reject counts a pick refused with ErrCircuitOpen and logs the trip, at
// most once per second.
func (b *Breaker) reject() error {
	n := b.rejected.Add(1)
	if b.log != nil {
		now, last := time.Now().UnixNano(), b.logged.Load()
		if now-last >= int64(time.Second) && b.logged.CompareAndSwap(last, now) {
			prev := b.reported.Swap(n)
			b.log.LogAttrs(context.Background(), slog.LevelWarn, "balancer: circuit breaker tripped: every target offered is at its in-flight limit",
				slog.String("pool", b.name), slog.Int64("max_in_flight", b.max), slog.Int64("rejected", n-prev))
		}
	}
	return fmt.Errorf("%w: %w", ErrNoTargets, ErrCircuitOpen)
}

// BreakerStats are a Breaker's counters.
type BreakerStats struct {
	// Rejected is how many picks failed with ErrCircuitOpen.
	Rejected int64
	// Waiting is how many picks wait for a slot now.
	Waiting int64
}

var _ Policy = (*Breaker)(nil)

// breakerSlot is a target's in-flight count and cached done functions.
type breakerSlot struct {
	n    atomic.Int64
	done doneCache
}

func (b *Breaker) slot(t *Target) *breakerSlot {
	if c, ok := b.counts.Load(t); ok {
		return c.(*breakerSlot)
	}
	c, _ := b.counts.LoadOrStore(t, new(breakerSlot))
	return c.(*breakerSlot)
}

func (b *Breaker) count(t *Target) *atomic.Int64 { return &b.slot(t).n }

// Unwrap returns the wrapped policy.
func (b *Breaker) Unwrap() Policy { return b.p }

// InFlight returns the requests in flight to t through b.
func (b *Breaker) InFlight(t *Target) int64 { return b.count(t).Load() }

// Stats returns b's counters.
func (b *Breaker) Stats() BreakerStats {
	return BreakerStats{Rejected: b.rejected.Load(), Waiting: b.waiting.Load()}
}

func (b *Breaker) targetPool() *Pool { return policyPool(b.p) }

// Pick returns a target with a free slot. When every target offered is
// full it waits for a slot (if fewer than MaxWaiting requests already
// wait) until MaxWait passes or ctx is done, and otherwise returns an error
// wrapping ErrNoTargets and ErrCircuitOpen.
func (b *Breaker) Pick(ctx context.Context, key string) (*Target, func(Result), error) {
	t, done, _, err := b.pickKeyed(ctx, key)
	return t, done, err
}

func (b *Breaker) pickKeyed(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	t, done, id, err := b.tryPick(ctx, key)
	if err != nil || t != nil {
		return t, done, id, err
	}
	if b.waiting.Add(1) > b.maxWait {
		b.waiting.Add(-1)
		return nil, nil, nil, b.reject()
	}
	defer b.waiting.Add(-1)
	timer := time.NewTimer(b.waitTime)
	defer timer.Stop()
	for {
		b.mu.Lock()
		free := b.free
		b.mu.Unlock()
		if t, done, id, err := b.tryPick(ctx, key); err != nil || t != nil {
			return t, done, id, err
		}
		select {
		case <-free:
		case <-timer.C:
			return nil, nil, nil, b.reject()
		case <-ctx.Done():
			return nil, nil, nil, ctx.Err()
		}
	}
}

// tryPick asks p for targets until one has a free slot; it returns a nil
// target (and nil error) when all those offered are full.
func (b *Breaker) tryPick(ctx context.Context, key string) (*Target, func(Result), doneID, error) {
	var s *breakerSlot
	t, done, id, err := pickUntil(ctx, b.p, key, func(t *Target) bool {
		if t.pool != nil {
			if v := t.pool.load().version; b.version.Load() != v {
				b.version.Store(v)
				b.prune(t.pool.load())
			}
		}
		s = b.slot(t)
		if s.n.Add(1) <= b.max {
			return true
		}
		s.n.Add(-1)
		return false
	})
	if t == nil {
		return nil, nil, nil, err
	}
	c := &s.n
	fn, wid := s.done.get(id, done, func(done func(Result)) func(Result) {
		return func(res Result) {
			c.Add(-1)
			b.release()
			done(res)
		}
	})
	return t, fn, wid, nil
}

// prune forgets the idle counts of targets no longer in the pool.
func (b *Breaker) prune(snap *snapshot) {
	b.counts.Range(func(k, v any) bool {
		t := k.(*Target)
		if snap.byID[t.id] != t && v.(*breakerSlot).n.Load() == 0 {
			b.counts.CompareAndDelete(k, v)
		}
		return true
	})
}

// release wakes the requests waiting for a slot.
func (b *Breaker) release() {
	if b.waiting.Load() == 0 {
		return
	}
	b.mu.Lock()
	close(b.free)
	b.free = make(chan struct{})
	b.mu.Unlock()
}
