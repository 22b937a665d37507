package validate

import (
	"errors"
	"sync/atomic"
)

// Stats are counters since the Validator was built, for metrics.
type Stats struct {
	// Requests is the number of requests validated (or passed through).
	Requests uint64
	// Invalid counts 400 answers: parameters, bodies, rules.
	Invalid uint64
	// Unauthorized counts 401 and 403 answers.
	Unauthorized uint64
	// Unknown counts 404 and 405 answers (not pass-throughs).
	Unknown uint64
	// TooLarge counts 413 answers.
	TooLarge uint64
	// UnsupportedMediaType counts 415 answers.
	UnsupportedMediaType uint64
	// Internal counts 500 answers (recovered panics).
	Internal uint64
	// BadResponses counts responses that broke the spec (ResponseLog and
	// ResponseReject).
	BadResponses uint64
	// SkippedResponses counts responses of spec operations forwarded
	// without validation under ResponseLog or ResponseReject: compressed
	// (a Content-Encoding other than identity), larger than
	// Config.MaxResponseBytes, or flushed before the handler returned.
	SkippedResponses uint64
}

// counters are the Validator's live Stats.
type counters struct {
	requests, invalid, unauthorized, unknown, tooLarge, media, internal, badResponses, skippedResponses atomic.Uint64
}

// count records the outcome of one request.
func (c *counters) count(err error) { c.countReason(err) }

// countReason counts err as count does and returns the reason it names
// (invalid, unauthorized, unknown, too_large, unsupported_media_type or
// internal; "" for nil), the label metrics and the access log use.
func (c *counters) countReason(err error) string {
	c.requests.Add(1)
	if err == nil {
		return ""
	}
	switch {
	case errors.Is(err, ErrInvalid):
		c.invalid.Add(1)
		return "invalid"
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden):
		c.unauthorized.Add(1)
		return "unauthorized"
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrMethodNotAllowed):
		c.unknown.Add(1)
		return "unknown"
	case errors.Is(err, ErrTooLarge):
		c.tooLarge.Add(1)
		return "too_large"
	case errors.Is(err, ErrUnsupportedMediaType):
		c.media.Add(1)
		return "unsupported_media_type"
	default:
		c.internal.Add(1)
		return "internal"
	}
}

// Stats returns the counters. It is safe to call concurrently with validation.
func (v *Validator) Stats() Stats {
	c := &v.stats
	return Stats{
		Requests: c.requests.Load(), Invalid: c.invalid.Load(), Unauthorized: c.unauthorized.Load(),
		Unknown: c.unknown.Load(), TooLarge: c.tooLarge.Load(), UnsupportedMediaType: c.media.Load(),
		Internal: c.internal.Load(), BadResponses: c.badResponses.Load(), SkippedResponses: c.skippedResponses.Load(),
	}
}
