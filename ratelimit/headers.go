package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header field names written by Middleware.
const (
	// HeaderRateLimitPolicy lists the policies (draft-ietf-httpapi-ratelimit-headers-10).
	HeaderRateLimitPolicy = "RateLimit-Policy"
	// HeaderRateLimit reports the state of the most restrictive policy.
	HeaderRateLimit = "RateLimit"
)

// The header names in net/http's canonical form (http.CanonicalHeaderKey),
// under which http.Header.Set would store them: setting the map directly
// skips canonicalising (an allocation each) per response.
const (
	keyPolicy       = "Ratelimit-Policy"
	keyState        = "Ratelimit"
	keyLegacyLimit  = "X-Ratelimit-Limit"
	keyLegacyRemain = "X-Ratelimit-Remaining"
	keyLegacyReset  = "X-Ratelimit-Reset"
)

// sfString appends s as a Structured Fields String (s is printable ASCII,
// checked by Rate.validate).
func sfString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// formatPolicy returns the RateLimit-Policy list items for pols:
// "name";q=QUOTA;w=WINDOW, joined with ", ".
func formatPolicy(pols []policy) string {
	var b []byte
	for i, p := range pols {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = sfString(b, p.name)
		b = append(b, ";q="...)
		b = strconv.AppendInt(b, p.quota, 10)
		b = append(b, ";w="...)
		b = strconv.AppendInt(b, p.window, 10)
	}
	return string(b)
}

// seconds rounds d up to whole seconds, at least 1: a client that waits
// the advertised time must not be refused again for rounding.
func seconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return max(s, 1)
}

// resetSeconds rounds d up to whole seconds; zero stays zero (full bucket).
func resetSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return seconds(d)
}

// writeState sets the rate-limit headers of one decision on h: mode
// selects the forms, policy is the full RateLimit-Policy value, name and
// quota describe the most restrictive policy, d its state.
func writeState(h http.Header, mode HeaderMode, policy, name string, quota int64, d Decision) {
	remaining, reset := int64(d.Remaining), resetSeconds(d.Reset)
	if !d.Allowed {
		remaining, reset = 0, seconds(d.RetryAfter)
	}
	if mode == HeadersDraft || mode == HeadersBoth {
		var buf [96]byte
		b := sfString(buf[:0], name)
		b = append(b, ";r="...)
		b = strconv.AppendInt(b, remaining, 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, reset, 10)
		// Both values share one backing array (as h.Set would store
		// them, each a one-element slice of full capacity).
		vals := []string{policy, string(b)}
		h[keyPolicy] = vals[0:1:1]
		h[keyState] = vals[1:2:2]
	}
	if mode == HeadersLegacy || mode == HeadersBoth {
		h[keyLegacyLimit] = []string{strconv.FormatInt(quota, 10)}
		h[keyLegacyRemain] = []string{strconv.FormatInt(remaining, 10)}
		h[keyLegacyReset] = []string{strconv.FormatInt(reset, 10)}
	}
}

// joinPolicies joins RateLimit-Policy values of several limiters.
func joinPolicies(vals []string) string {
	return strings.Join(vals, ", ")
}
