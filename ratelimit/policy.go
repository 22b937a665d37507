package ratelimit

import (
	"fmt"
	"math/bits"
	"time"
)

// policy is a validated Rate in nanoseconds.
type policy struct {
	interval int64 // time to refill one token
	tau      int64 // burst × interval: how far tat may run ahead of now
	burst    int
	quota    int64 // q and w (seconds) of the RateLimit-Policy item
	window   int64
	name     string
}

// rules are a limiter's configuration and its compiled policies. A
// Limiter replaces them as a whole (SetRatesAt) and never modifies them,
// so whoever holds a *rules sees one consistent version.
type rules struct {
	cfg Config
	pol []policy
}

// compile validates rates (at least one, each valid, names unique) and
// returns their policies. Errors wrap ErrInvalidRate.
func compile(rates []Rate) ([]policy, error) {
	if len(rates) == 0 {
		return nil, fmt.Errorf("%w: Config.Rates is empty", ErrInvalidRate)
	}
	pol := make([]policy, 0, len(rates))
	seen := map[string]bool{}
	for i, r := range rates {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("ratelimit: Rates[%d]: %w", i, err)
		}
		if seen[r.name()] {
			return nil, fmt.Errorf("%w: Rates[%d]: duplicate policy name %q", ErrInvalidRate, i, r.name())
		}
		seen[r.name()] = true
		iv := r.interval()
		q, w, _ := r.quota() // validate checked it
		pol = append(pol, policy{interval: iv, tau: iv * int64(r.burst()), burst: r.burst(),
			quota: q, window: w, name: r.name()})
	}
	return pol, nil
}

// pols returns the limiter's current policies. A caller holding any shard
// lock sees the version the entries of every shard are kept in.
func (l *Limiter) pols() []policy { return l.rules.Load().pol }

// Config returns the limiter's configuration, with its current Rates. It
// is shared, not copied: the caller must not modify it. SetRatesAt
// replaces it rather than changing it, so the pointer stays the same for
// as long as the configuration does (Middleware caches what it derives
// from it on that basis). It returns nil for a nil *Limiter.
func (l *Limiter) Config() *Config {
	if l == nil {
		return nil
	}
	return &l.rules.Load().cfg
}

// SetRatesAt replaces the limiter's policies at now without forgetting
// what its keys have used, as x/time/rate's SetLimitAt does for one
// bucket: a route table swap that changes a limit must not hand every key
// a fresh burst. Policies are matched by position: each key keeps the
// share of policy i's bucket it has used, rounded up (3 of a burst of 10
// used becomes 30 of a burst of 100): a full bucket stays full and an
// empty one stays empty, so neither idle nor exhausted keys notice the
// change beyond the new rate. A policy beyond the old ones starts full,
// and penalty blocks and queued requests are kept (queued requests are
// woken to wait at the new rate).
//
// rates are validated as by New; on error nothing changes. SetRatesAt
// holds every shard lock while it rescales the keys, so decisions pause
// for a time proportional to the number of keys (about 10 ms per 100,000).
// It is safe for concurrent use; concurrent calls apply in turn.
func (l *Limiter) SetRatesAt(rates []Rate, now time.Time) error {
	pol, err := compile(rates)
	if err != nil {
		return err
	}
	next := &rules{cfg: l.cfg, pol: pol}
	next.cfg.Rates = append([]Rate(nil), rates...)
	l.setMu.Lock()
	defer l.setMu.Unlock()
	for i := range l.tab.shards {
		l.tab.shards[i].mu.Lock()
	}
	old, n := l.pols(), l.ns(now)
	for i := range l.tab.shards {
		s := &l.tab.shards[i]
		for _, e := range s.m {
			e.rescale(old, pol, n)
			s.touch(e)
			e.wakeHead()
		}
	}
	l.tab.npol = len(pol)
	l.rules.Store(next)
	for i := range l.tab.shards {
		l.tab.shards[i].mu.Unlock()
	}
	return nil
}

// SetRates is SetRatesAt at the current time.
func (l *Limiter) SetRates(rates []Rate) error { return l.SetRatesAt(rates, time.Now()) }

// rescale converts e's buckets from policies old to pol at n (see
// SetRatesAt). Its shard's lock must be held.
func (e *entry) rescale(old, pol []policy, n int64) {
	tat := e.tat
	if len(pol) != len(old) {
		if len(pol) == 1 {
			tat = e.inl[:]
		} else {
			tat = make([]int64, len(pol))
		}
	}
	for i, p := range pol {
		switch {
		case i >= len(old):
			tat[i] = n // a new policy starts full
		case e.tat[i] > n: // a debt of x ns in old tokens
			tat[i] = n + scaleDebt(e.tat[i]-n, old[i].tau, p.tau)
		default:
			tat[i] = e.tat[i] // full stays full
		}
	}
	e.tat = tat
}

// scaleDebt returns x × to / from rounded up, at most to, without
// overflow: a debt of x ns in a bucket of from ns, as the same share of a
// bucket of to ns.
func scaleDebt(x, from, to int64) int64 {
	if x >= from {
		return to
	}
	hi, lo := bits.Mul64(uint64(x), uint64(to))
	q, r := bits.Div64(hi, lo, uint64(from)) // x < from: hi < from, no overflow
	if r != 0 {
		q++
	}
	return int64(min(q, uint64(to)))
}
