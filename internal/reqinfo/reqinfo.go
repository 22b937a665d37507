// Package reqinfo carries what the stages of one request learn about it
// (the route rule that matched, the upstream target, the cache's verdict,
// the limiter's decision) out to the access log and metrics that wrap
// them.
//
// The outer stage (the gateway's shared response writer, or
// metrics.Middleware) passes on a ResponseWriter that implements Recorder;
// inner stages find its Info with From, walking the writer's Unwrap chain
// as http.ResponseController does, and fill their fields. Nothing is
// allocated per request and the request's context is untouched. Each field
// is written by the goroutine serving the request before the handler
// returns, and read by the outer stage after it returned, so no locking is
// needed; copies of a request served elsewhere (mirrors) are given another
// writer and write nothing here.
package reqinfo

import "net/http"

// Info is what the stages of one request record about it. The zero value
// means nothing is known yet.
type Info struct {
	// Rule is the name of the route rule that matched ("" if none did, or
	// the rule has no name), and Pattern its path pattern.
	Rule, Pattern string
	// Backend is the split side that served the request, when the rule
	// splits.
	Backend string
	// Target is the upstream target of the last attempt (its URL) and
	// Attempts the number of attempts sent upstream.
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

// Recorder is implemented by a ResponseWriter that collects the Info of
// the request it answers.
type Recorder interface {
	RequestInfo() *Info
}

// From returns the Info of the nearest Recorder in w's Unwrap chain, or
// nil when none wraps the request: stages then record nothing.
func From(w http.ResponseWriter) *Info {
	for range 32 {
		switch t := w.(type) {
		case Recorder:
			return t.RequestInfo()
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
	return nil
}
