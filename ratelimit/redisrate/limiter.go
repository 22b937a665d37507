// Package redisrate enforces one rate limit across several gateway
// instances by keeping the buckets in Redis.
//
// A [Limiter] has the semantics of ratelimit.Limiter (GCRA buckets, one
// or more policies per key, Reject or Queue mode, penalties, dry run) and
// implements ratelimit.Decider, so ratelimit.Middleware enforces it and
// writes the same RateLimit headers. Each decision is one atomic Lua
// script covering all of the limiter's policies, timed by Redis's own
// clock (TIME): instances whose clocks disagree still share one exact
// limit. Every key written has a TTL, and key names hold a hash of the
// request key, never the client address or API key itself.
//
// # Queue mode
//
// Over Redis a queued request does not hold a place in a list: the script
// reserves a future token for it (the bucket's arrival time moves past
// the burst, as x/time/rate's Reserve does) when that token is due within
// MaxWait and fewer than MaxQueue reservations are ahead, and the request
// then waits, in this process, until its token is due. Requests are
// therefore admitted in the order the script ran, across all instances.
// A request whose context ends while it waits gives its token back.
//
// # When Redis fails
//
// Each call has a short timeout (Config.Timeout). After
// Config.BreakerFailures failures in a row the limiter stops calling Redis
// for Config.BreakerCooldown and decides by Config.OnError: fail open
// (admit), fail closed (reject with 503) or, the default, a local
// ratelimit.Limiter at each policy divided by Config.Instances. Then one
// request probes Redis; on success the limiter returns to it. Every
// switch is logged (Config.Limit.Logger) and counted (Stats).
//
// With Config.Pipeline, decisions that arrive while another is on its way
// to Redis are sent together in the next pipeline, which carries more
// decisions per second over the same connections under load.
//
// Redis Cluster works: both keys a decision touches share a hash tag, so
// they live in one slot. go-redis is imported by this package only.
package redisrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/ratelimit"
)

// FailMode is what a Limiter does while Redis cannot answer.
type FailMode int

const (
	// FallbackLocal decides with a limiter in this process whose
	// policies are the shared ones divided by Config.Instances, so the
	// instances together admit about the shared limit.
	FallbackLocal FailMode = iota
	// FailOpen admits every request: no limit while Redis is away.
	FailOpen
	// FailClosed rejects every request with ratelimit.ErrUnavailable,
	// which ratelimit.WriteError answers 503 with Retry-After.
	FailClosed
)

// String returns "local", "open" or "closed".
func (m FailMode) String() string {
	switch m {
	case FallbackLocal:
		return "local"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return "FailMode(" + strconv.Itoa(int(m)) + ")"
}

// ParseFailMode parses "local", "open" or "closed".
func ParseFailMode(s string) (FailMode, error) {
	for _, m := range []FailMode{FallbackLocal, FailOpen, FailClosed} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("redisrate: unknown fail mode %q (want local, open or closed)", s)
}

// Config configures a Limiter. The zero value of each field selects the
// default documented on it; Name and Limit.Rates have none.
type Config struct {
	// Limit holds the policies and behaviour, as for ratelimit.New: Rates,
	// Key, Mode, MaxWait, MaxQueue, BlockAfter, BlockFor, DryRun, Logger,
	// Headers and ErrorHandler mean the same here, for the limit shared by
	// all instances. MaxKeys bounds the local fallback's key table. Each
	// rate's interval (Per / Count) must be at least a microsecond, the
	// resolution of Redis's clock.
	Limit ratelimit.Config
	// Name identifies the limit in Redis: limiters with the same Prefix
	// and Name share their buckets, as the instances of one gateway
	// should; each limiter of a gateway needs its own Name. Required.
	Name string
	// Prefix starts every key name the limiter writes. Zero means
	// "gatekit:rl:".
	Prefix string
	// KeySecret keys the hash that replaces request keys in Redis key
	// names (SHA-256 over the secret, Name and the key). All instances of
	// one limit must use the same secret. Without one, names still hold no
	// raw key, but a key from a small space, such as an IPv4 address, can
	// be recovered from its hash by trying every candidate.
	KeySecret []byte
	// Timeout bounds each call to Redis; a call that takes longer counts
	// as a failure and the request is decided by OnError. Zero means
	// 50ms. The client must honour context deadlines
	// (redis.Options.ContextTimeoutEnabled); New checks it.
	Timeout time.Duration
	// OnError selects what happens while Redis cannot answer: zero means
	// FallbackLocal.
	OnError FailMode
	// Instances is the expected number of gateway instances sharing the
	// limit; the local fallback enforces each policy's Count and Burst
	// divided by it (at least 1). Zero means 1.
	Instances int
	// BreakerFailures is the number of failed calls in a row after which
	// the limiter stops calling Redis. Zero means 3.
	BreakerFailures int
	// BreakerCooldown is how long the limiter stays away from Redis
	// before one request tries it again. Zero means 1s.
	BreakerCooldown time.Duration
	// Pipeline sends the decisions of concurrent requests together: while
	// one pipeline is in flight, the decisions that arrive queue, and the
	// first of them sends them all in the next pipeline when it returns.
	// It raises the decisions per second a Redis connection carries under
	// load, at the cost of a request waiting for the pipeline ahead of
	// its own (never past Timeout). Off by default.
	Pipeline bool
}

// Limiter is a rate limiter whose buckets live in Redis, shared by every
// instance that uses the same Redis, Prefix and Name. It is safe for
// concurrent use and must not be copied. Create one with New.
type Limiter struct {
	cfg     Config
	client  redis.UniversalClient
	scripts scripts
	args    []any // decideScript's arguments from ARGV[3] on
	refund  []any // refundScript's arguments
	local   *ratelimit.Limiter
	br      breaker
	batch   batcher          // used when cfg.Pipeline
	now     func() time.Time // the application clock: breaker and waits only
	stats   struct {
		decisions, fallbacks, errors, toFallback, toRedis atomic.Uint64
	}
}

var _ ratelimit.Decider = (*Limiter)(nil)

// New returns a Limiter deciding through client, a *redis.Client or a
// *redis.ClusterClient. It returns an error when cfg is invalid (as
// ratelimit.New would, or a rate finer than a microsecond, a missing
// Name, a negative duration or count) or when the client does not honour
// context deadlines. It does not contact Redis: the first decision loads
// the script.
func New(client redis.UniversalClient, cfg Config) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("redisrate: nil client")
	}
	if !honoursDeadlines(client) {
		return nil, errors.New("redisrate: the client must set ContextTimeoutEnabled so that Timeout bounds each call")
	}
	switch {
	case cfg.Name == "":
		return nil, errors.New("redisrate: Config.Name is required")
	case cfg.Timeout < 0 || cfg.BreakerCooldown < 0:
		return nil, errors.New("redisrate: negative Timeout or BreakerCooldown")
	case cfg.Instances < 0 || cfg.BreakerFailures < 0:
		return nil, errors.New("redisrate: negative Instances or BreakerFailures")
	case cfg.OnError < FallbackLocal || cfg.OnError > FailClosed:
		return nil, fmt.Errorf("redisrate: unknown OnError %d", cfg.OnError)
	}
	cfg.Prefix = cmp.Or(cfg.Prefix, "gatekit:rl:")
	cfg.Timeout = cmp.Or(cfg.Timeout, 50*time.Millisecond)
	cfg.Instances = cmp.Or(cfg.Instances, 1)
	cfg.BreakerFailures = cmp.Or(cfg.BreakerFailures, 3)
	cfg.BreakerCooldown = cmp.Or(cfg.BreakerCooldown, time.Second)
	cfg.KeySecret = append([]byte(nil), cfg.KeySecret...)
	// The shared limit is validated by building a limiter from it; the
	// fallback is the same limit divided among the instances.
	full, err := ratelimit.New(cfg.Limit)
	if err != nil {
		return nil, err
	}
	cfg.Limit = *full.Config()
	local := cfg.Limit
	local.Rates = nil
	for _, r := range cfg.Limit.Rates {
		if r.Per/time.Duration(r.Count) < time.Microsecond {
			return nil, fmt.Errorf("%w: %v: an interval under a microsecond is finer than Redis's clock", ratelimit.ErrInvalidRate, r)
		}
		r.Burst = max(cmp.Or(r.Burst, r.Count)/cfg.Instances, 1)
		r.Count = max(r.Count/cfg.Instances, 1)
		local.Rates = append(local.Rates, r)
	}
	l := &Limiter{cfg: cfg, client: client, scripts: newScripts(), now: time.Now}
	if l.local, err = ratelimit.New(local); err != nil {
		return nil, err
	}
	l.br.init(cfg.BreakerFailures, cfg.BreakerCooldown)
	b2i := map[bool]string{false: "0", true: "1"}
	lim := cfg.Limit
	l.args = []any{strconv.Itoa(cmp.Or(lim.MaxQueue, 100)), strconv.Itoa(lim.BlockAfter),
		strconv.FormatInt(lim.BlockFor.Microseconds(), 10), b2i[lim.DryRun]}
	for _, r := range lim.Rates {
		iv := micros(r)
		l.args = append(l.args, strconv.FormatInt(iv, 10), strconv.FormatInt(iv*int64(cmp.Or(r.Burst, r.Count)), 10))
		l.refund = append(l.refund, strconv.FormatInt(iv, 10))
	}
	return l, nil
}

// micros returns r's interval in whole microseconds, rounded up so that
// the shared limit is never more generous than r.
func micros(r ratelimit.Rate) int64 {
	per, n := int64(r.Per), int64(r.Count)
	ns := per / n
	if per%n != 0 {
		ns++
	}
	us := ns / 1000
	if ns%1000 != 0 {
		us++
	}
	return us
}

// honoursDeadlines reports whether client's calls end at their context's
// deadline.
func honoursDeadlines(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true // another implementation: its own business
}

// Config returns the shared limit's configuration (with Limit's defaults
// applied as ratelimit.New applies them). It must not be modified. It
// returns nil for a nil *Limiter.
func (l *Limiter) Config() *ratelimit.Config {
	if l == nil {
		return nil
	}
	return &l.cfg.Limit
}

// Decide decides on one request of key through Redis (see
// ratelimit.Decider), or by Config.OnError while Redis is unavailable. In
// Queue mode it waits for a reserved token, at most MaxWait and never
// past ctx. A Redis call that fails because ctx ended returns ctx's error
// and does not count against Redis.
func (l *Limiter) Decide(ctx context.Context, key string) (ratelimit.Decision, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Decision{}, err
	}
	if !l.br.allow(l.now()) {
		return l.fallback(ctx, key)
	}
	maxWait, byDeadline := cmp.Or(l.cfg.Limit.MaxWait, time.Second), false
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < maxWait {
		maxWait, byDeadline = max(time.Until(dl), 0), true
	}
	ks := l.keys(key)
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	var o outcome
	var err error
	if l.cfg.Pipeline {
		o, err = l.batch.submit(cctx, l, ks, l.decideArgs(maxWait))
	} else {
		o, err = l.run(cctx, ks, l.decideArgs(maxWait))
	}
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			l.br.abandon()
			return ratelimit.Decision{}, ctx.Err()
		}
		l.failed(err)
		return l.fallback(ctx, key)
	}
	l.succeeded()
	l.stats.decisions.Add(1)
	d := ratelimit.Decision{Allowed: o.allowed, Limited: o.kind != outAdmitted, Blocked: o.kind == outBlocked,
		RetryAfter: o.retry, Remaining: o.remaining, Reset: o.reset, Policy: o.policy}
	if o.kind == outQueued {
		return l.waitReserved(ctx, ks, d)
	}
	if d.Allowed {
		return d, nil
	}
	d.RetryAfter = max(d.RetryAfter, time.Microsecond)
	cause := ratelimit.ErrLimited
	switch o.kind {
	case outBlocked:
		cause = ratelimit.ErrBlocked
	case outQueueFull:
		cause = ratelimit.ErrQueueFull
	case outMaxWait:
		if cause = ratelimit.ErrMaxWait; byDeadline {
			cause = context.DeadlineExceeded
		}
	}
	return d, &ratelimit.LimitError{RetryAfter: d.RetryAfter, Err: cause}
}

// waitReserved waits until the token the script reserved is due, giving
// it back if ctx ends first.
func (l *Limiter) waitReserved(ctx context.Context, ks [2]string, d ratelimit.Decision) (ratelimit.Decision, error) {
	timer := time.NewTimer(d.RetryAfter)
	defer timer.Stop()
	select {
	case <-timer.C:
		d.RetryAfter = 0
		return d, nil
	case <-ctx.Done():
		l.refundKeys(ks)
		return ratelimit.Decision{}, ctx.Err()
	}
}

// Refund gives back the token an admitting Decide of key took, in Redis
// or, while Redis is unavailable, in the local fallback. It is bounded by
// Config.Timeout; a failed refund is dropped (the bucket then refills as
// if the request had gone ahead).
func (l *Limiter) Refund(key string) {
	if !l.br.closed() {
		if l.cfg.OnError == FallbackLocal {
			l.local.Refund(key)
		}
		return
	}
	l.refundKeys(l.keys(key))
}

func (l *Limiter) refundKeys(ks [2]string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	if err := l.scripts.refund.Run(ctx, l.client, ks[:1], l.refund...).Err(); err != nil {
		l.failed(err)
	}
}

// fallback decides without Redis, by Config.OnError.
func (l *Limiter) fallback(ctx context.Context, key string) (ratelimit.Decision, error) {
	l.stats.fallbacks.Add(1)
	switch l.cfg.OnError {
	case FailOpen:
		return ratelimit.Decision{Allowed: true}, nil
	case FailClosed:
		retry := l.br.retryAfter(l.now())
		return ratelimit.Decision{RetryAfter: retry}, &ratelimit.LimitError{RetryAfter: retry, Err: ratelimit.ErrUnavailable}
	}
	return l.local.Decide(ctx, key)
}

// failed records a failed Redis call and, if it opens the breaker, logs
// and counts the switch away from Redis.
func (l *Limiter) failed(err error) {
	l.stats.errors.Add(1)
	if l.br.failure(l.now()) {
		l.stats.toFallback.Add(1)
		if lg := l.cfg.Limit.Logger; lg != nil {
			lg.Warn("redisrate: Redis unavailable, deciding without it", "limit", l.cfg.Name,
				"mode", l.cfg.OnError.String(), "retry_in", l.cfg.BreakerCooldown, "err", err)
		}
	}
}

// succeeded records a successful Redis call and, if it closes the
// breaker, logs and counts the return to Redis.
func (l *Limiter) succeeded() {
	if l.br.success() {
		l.stats.toRedis.Add(1)
		if lg := l.cfg.Limit.Logger; lg != nil {
			lg.Info("redisrate: Redis is back, deciding through it again", "limit", l.cfg.Name)
		}
	}
}

// Stats are a Limiter's cumulative counters: decisions made by Redis and
// without it (by Config.OnError), failed Redis calls, switches away from
// Redis and back, pipelines sent (Config.Pipeline), whether decisions go
// to Redis now, and the local fallback limiter's counters. They are of
// ratelimit's type for shared limits, so that package metrics reports
// them without depending on Redis.
type Stats = ratelimit.SharedStats

// Stats returns the limiter's counters.
func (l *Limiter) Stats() Stats {
	return Stats{Decisions: l.stats.decisions.Load(), Fallbacks: l.stats.fallbacks.Load(),
		Errors: l.stats.errors.Load(), ToFallback: l.stats.toFallback.Load(), ToRedis: l.stats.toRedis.Load(),
		Pipelines: l.batch.sent.Load(), UsingRedis: l.br.closed(), Local: l.local.Stats()}
}
