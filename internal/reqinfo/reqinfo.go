// Package reqinfo carries what the stages of one request learn about it
// (the route rule that matched, the upstream target, the cache's verdict,
// the limiter's decision) to the access log and metrics that wrap them.
//
// The outermost stage (the gateway's access log, or metrics.Middleware)
// puts an *Info in the request's context with NewContext; inner stages
// find it with FromContext and fill their fields. Each field is written by
// the goroutine serving the request, before the response completes, and
// read by the outer stage after the inner handler returned, so no locking
// is needed; copies of a request served elsewhere (mirrors) must not write.
package reqinfo

import "context"

// Info is what the stages of one request record about it. The zero value
// means nothing is known yet.
type Info struct {
	// Rule is the name of the route rule that matched ("" if none did, or
	// the rule has no name), and Pattern its path pattern.
	Rule, Pattern string
	// Backend is the split side that served the request, when the rule
	// splits.
	Backend string
	// Target is the upstream target of the last attempt, as host:port,
	// and Attempts the number of attempts sent upstream.
	Target   string
	Attempts int
	// Cache is the cache's verdict: "hit", "stale", "miss", "revalidated",
	// "bypass" or "" when no cache saw the request.
	Cache string
	// Limit is the rate limiter's decision: "allowed", "queued",
	// "rejected", "dry-run" or "" when no limiter saw the request.
	Limit string
	// Shed is the surge protection's decision: "admitted", "queued",
	// "shed" or "" when none saw the request.
	Shed string
	// Invalid is the validation's rejection reason, "" when valid or not
	// validated.
	Invalid string
	// TraceID is the W3C trace ID the request carries (or was given).
	TraceID string
}

type key struct{}

// NewContext returns a copy of ctx carrying info.
func NewContext(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// FromContext returns the Info of ctx, or nil when the request has none
// (no access log or metrics wraps it): stages then record nothing.
func FromContext(ctx context.Context) *Info {
	info, _ := ctx.Value(key{}).(*Info)
	return info
}
