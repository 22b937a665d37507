package gatekit

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

// TraceConfig configures TraceContext.
type TraceConfig struct {
	// Generate starts a new trace for a request that arrives without a
	// valid traceparent header: a random trace ID and parent ID, with the
	// sampled flag off, so that the upstream and the access log share one
	// ID. If false, such requests pass without one.
	Generate bool
}

// TraceContext returns middleware that carries W3C Trace Context
// (traceparent and tracestate) through the gateway: a valid traceparent
// is passed upstream unchanged with its tracestate, and its trace ID
// recorded for the access log; an invalid or missing one is removed with
// any tracestate (which means nothing without it), and replaced by a new
// trace when cfg.Generate is set.
//
// gatekit starts no spans of its own and has no OpenTelemetry dependency.
// To record spans, wrap the gateway (or any route's handler) with the
// otelhttp middleware of go.opentelemetry.io/contrib in your own program:
// it reads and updates the same headers, so TraceContext, the access log
// and the upstream see the span's trace ID.
func TraceContext(cfg TraceConfig) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			vals := r.Header.Values("Traceparent")
			traceID, ok := "", false
			if len(vals) == 1 {
				traceID, ok = ParseTraceparent(vals[0])
			}
			if !ok && (len(vals) > 0 || cfg.Generate || len(r.Header["Tracestate"]) > 0) {
				r = r.Clone(r.Context()) // never modify the caller's request
				r.Header.Del("Traceparent")
				r.Header.Del("Tracestate")
				if cfg.Generate {
					var tp string
					tp, traceID = newTraceparent()
					r.Header.Set("Traceparent", tp)
				}
			}
			if info := reqinfo.From(w); info != nil && traceID != "" {
				info.TraceID = traceID
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ParseTraceparent returns the trace ID of a W3C traceparent header
// value, and whether the value is valid: version 00 with exactly four
// fields, or a later version with at least four (extra fields are
// allowed and ignored); lower-case hex; neither the trace ID nor the
// parent ID all zeros; version ff invalid.
func ParseTraceparent(v string) (traceID string, ok bool) {
	// version "-" trace-id "-" parent-id "-" flags
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return "", false
	}
	version, tid, pid, flags := v[:2], v[3:35], v[36:52], v[53:55]
	if !lowerHex(version) || version == "ff" || !lowerHex(tid) || !lowerHex(pid) || !lowerHex(flags) {
		return "", false
	}
	if version == "00" && len(v) != 55 || version != "00" && len(v) > 55 && v[55] != '-' {
		return "", false
	}
	if allZero(tid) || allZero(pid) {
		return "", false
	}
	return tid, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// newTraceparent returns a new traceparent value (sampled flag off) and
// its trace ID.
func newTraceparent() (value, traceID string) {
	var b [24]byte
	for {
		rand.Read(b[:])
		tid, pid := hex.EncodeToString(b[:16]), hex.EncodeToString(b[16:])
		if !allZero(tid) && !allZero(pid) {
			return "00-" + tid + "-" + pid + "-00", tid
		}
	}
}
