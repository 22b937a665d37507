package metrics

import (
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/validate"
)

// AddCache reports c's counters, labelled cache=name:
// gatekit_cache_hits_total, _misses_total, _stores_total,
// _coalesced_total, _revalidations_total and _stale_total. It returns an
// error if a cache of that name is already registered.
func (m *Metrics) AddCache(name string, c *cache.Cache) error {
	return add(m, "cache", "cache", name, c.Stats, []field[cache.Stats]{
		counter("cache_hits_total", "Requests answered from a stored response.", func(s cache.Stats) float64 { return u64(s.Hits) }),
		counter("cache_misses_total", "Requests forwarded upstream (revalidations and bypasses included).", func(s cache.Stats) float64 { return u64(s.Misses) }),
		counter("cache_stores_total", "Responses handed to the store.", func(s cache.Stats) float64 { return u64(s.Stores) }),
		counter("cache_coalesced_total", "Requests answered with another request's response while it was fetched.", func(s cache.Stats) float64 { return u64(s.Coalesced) }),
		counter("cache_revalidations_total", "Conditional requests sent upstream.", func(s cache.Stats) float64 { return u64(s.Revalidations) }),
		counter("cache_stale_total", "Stale responses served.", func(s cache.Stats) float64 { return u64(s.Stale) }),
	})
}

// AddLimiter reports l's counters, labelled limiter=name:
// gatekit_ratelimit_allowed_total, _rejected_total, _queued_total,
// _dry_run_limited_total, _blocked_total, _evicted_keys_total, and the
// gauges gatekit_ratelimit_keys and gatekit_ratelimit_waiting. It returns
// an error if a limiter of that name is already registered.
func (m *Metrics) AddLimiter(name string, l *ratelimit.Limiter) error {
	return add(m, "limiter", "limiter", name, l.Stats, []field[ratelimit.Stats]{
		counter("ratelimit_allowed_total", "Requests admitted, at once or after waiting in the queue.", func(s ratelimit.Stats) float64 { return u64(s.Allowed) }),
		counter("ratelimit_rejected_total", "Requests rejected (429), blocked and queue rejections included.", func(s ratelimit.Stats) float64 { return u64(s.Rejected) }),
		counter("ratelimit_queued_total", "Requests that waited in the queue.", func(s ratelimit.Stats) float64 { return u64(s.Queued) }),
		counter("ratelimit_dry_run_limited_total", "Requests over the limit admitted because of dry run.", func(s ratelimit.Stats) float64 { return u64(s.LimitedDryRun) }),
		counter("ratelimit_blocked_total", "Requests rejected during a penalty block.", func(s ratelimit.Stats) float64 { return u64(s.Blocked) }),
		counter("ratelimit_evicted_keys_total", "Keys evicted from the key table.", func(s ratelimit.Stats) float64 { return u64(s.Evicted) }),
		gauge("ratelimit_keys", "Keys in the key table.", func(s ratelimit.Stats) float64 { return float64(s.Keys) }),
		gauge("ratelimit_waiting", "Requests waiting in the queue now.", func(s ratelimit.Stats) float64 { return float64(s.Waiting) }),
	})
}

// SharedLimiter is a limit shared by gateway instances through a store,
// such as package redisrate's Limiter.
type SharedLimiter interface {
	// Stats returns the limit's cumulative counters, read at each scrape.
	Stats() ratelimit.SharedStats
}

// AddSharedLimiter reports l's counters, labelled limiter=name:
// gatekit_ratelimit_shared_decisions_total (decided by the store),
// _fallback_decisions_total (decided without it), _fallback_rejected_total
// (of those, rejections by the limiter's local fallback), _errors_total
// (failed calls to it), _store_left_total and _store_returned_total
// (switches away from the store and back), _pipelines_total, and the
// gauges gatekit_ratelimit_shared_store_in_use (1 while decisions go to
// the store) and _fallback_keys (keys in the local fallback's table). It
// returns an error if a shared limiter of that name is already registered.
func (m *Metrics) AddSharedLimiter(name string, l SharedLimiter) error {
	return add(m, "shared limiter", "limiter", name, l.Stats, []field[ratelimit.SharedStats]{
		counter("ratelimit_shared_decisions_total", "Decisions made by the shared store.", func(s ratelimit.SharedStats) float64 { return u64(s.Decisions) }),
		counter("ratelimit_shared_fallback_decisions_total", "Decisions made without the store, by the limiter's fail mode.", func(s ratelimit.SharedStats) float64 { return u64(s.Fallbacks) }),
		counter("ratelimit_shared_fallback_rejected_total", "Requests the local fallback limiter rejected while the store was unavailable.", func(s ratelimit.SharedStats) float64 { return u64(s.Local.Rejected) }),
		counter("ratelimit_shared_errors_total", "Calls to the store that failed or timed out.", func(s ratelimit.SharedStats) float64 { return u64(s.Errors) }),
		counter("ratelimit_shared_store_left_total", "Switches away from the store (its breaker opened).", func(s ratelimit.SharedStats) float64 { return u64(s.ToFallback) }),
		counter("ratelimit_shared_store_returned_total", "Returns to the store (a probe succeeded).", func(s ratelimit.SharedStats) float64 { return u64(s.ToRedis) }),
		counter("ratelimit_shared_pipelines_total", "Pipelines of decisions sent to the store.", func(s ratelimit.SharedStats) float64 { return u64(s.Pipelines) }),
		gauge("ratelimit_shared_store_in_use", "1 while decisions go to the store, 0 while the fallback decides.", func(s ratelimit.SharedStats) float64 { return bit(s.UsingRedis) }),
		gauge("ratelimit_shared_fallback_keys", "Keys in the local fallback limiter's table.", func(s ratelimit.SharedStats) float64 { return float64(s.Local.Keys) }),
	})
}

// AddConcurrency reports c's counters, labelled limiter=name:
// gatekit_concurrency_allowed_total, _rejected_total, _queued_total, and
// the gauges gatekit_concurrency_in_flight and gatekit_concurrency_waiting.
func (m *Metrics) AddConcurrency(name string, c *ratelimit.Concurrency) error {
	return add(m, "concurrency", "limiter", name, c.Stats, []field[ratelimit.ConcurrencyStats]{
		counter("concurrency_allowed_total", "Slots granted, at once or after queueing.", func(s ratelimit.ConcurrencyStats) float64 { return u64(s.Allowed) }),
		counter("concurrency_rejected_total", "Requests refused a slot.", func(s ratelimit.ConcurrencyStats) float64 { return u64(s.Rejected) }),
		counter("concurrency_queued_total", "Requests that waited for a slot.", func(s ratelimit.ConcurrencyStats) float64 { return u64(s.Queued) }),
		gauge("concurrency_in_flight", "Slots held now.", func(s ratelimit.ConcurrencyStats) float64 { return float64(s.InFlight) }),
		gauge("concurrency_waiting", "Requests waiting for a slot now.", func(s ratelimit.ConcurrencyStats) float64 { return float64(s.Waiting) }),
	})
}

// AddValidator reports v's counters, labelled validator=name:
// gatekit_validate_requests_total, gatekit_validate_rejected_total by
// reason (invalid, unauthorized, unknown, too_large,
// unsupported_media_type, internal) and
// gatekit_validate_bad_responses_total.
func (m *Metrics) AddValidator(name string, v *validate.Validator) error {
	rejected := func(reason string, get func(validate.Stats) uint64) field[validate.Stats] {
		f := counter("validate_rejected_total", "Requests rejected by validation, by reason.", func(s validate.Stats) float64 { return u64(get(s)) })
		f.labels = map[string]string{"reason": reason}
		return f
	}
	return add(m, "validator", "validator", name, v.Stats, []field[validate.Stats]{
		counter("validate_requests_total", "Requests validated or passed through.", func(s validate.Stats) float64 { return u64(s.Requests) }),
		rejected("invalid", func(s validate.Stats) uint64 { return s.Invalid }),
		rejected("unauthorized", func(s validate.Stats) uint64 { return s.Unauthorized }),
		rejected("unknown", func(s validate.Stats) uint64 { return s.Unknown }),
		rejected("too_large", func(s validate.Stats) uint64 { return s.TooLarge }),
		rejected("unsupported_media_type", func(s validate.Stats) uint64 { return s.UnsupportedMediaType }),
		rejected("internal", func(s validate.Stats) uint64 { return s.Internal }),
		counter("validate_bad_responses_total", "Responses that broke the spec.", func(s validate.Stats) float64 { return u64(s.BadResponses) }),
	})
}

// AddRoutes reports t's mirroring counters, labelled table=name:
// gatekit_route_mirrored_total, _mirror_dropped_total,
// _mirror_skipped_total and _mirror_panics_total.
func (m *Metrics) AddRoutes(name string, t *route.Table) error {
	return add(m, "routes", "table", name, t.Stats, []field[route.Stats]{
		counter("route_mirrored_total", "Mirrored copies started.", func(s route.Stats) float64 { return u64(s.Mirrored) }),
		counter("route_mirror_dropped_total", "Mirrored copies not started: too many in flight.", func(s route.Stats) float64 { return u64(s.MirrorDropped) }),
		counter("route_mirror_skipped_total", "Mirrored copies not started: body too large or unreadable.", func(s route.Stats) float64 { return u64(s.MirrorSkipped) }),
		counter("route_mirror_panics_total", "Mirror handlers that panicked.", func(s route.Stats) float64 { return u64(s.MirrorPanics) }),
	})
}
