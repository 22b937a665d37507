package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// heuristicMax caps heuristic freshness (RFC 9111 §4.2.2 suggests a tenth
// of the time since Last-Modified; we never go beyond a day).
const heuristicMax = 24 * time.Hour

// maxStoreTTL caps how long a store keeps any entry.
const maxStoreTTL = 365 * 24 * time.Hour

// requestDirectives parses the request's Cache-Control, honouring
// "Pragma: no-cache" when Cache-Control is absent (RFC 9111 §5.4).
func requestDirectives(h http.Header) directives {
	// Indexing with canonical names is Values without canonicalising
	// them again on every request.
	cc := h["Cache-Control"]
	if len(cc) == 0 {
		d := parseDirectives(nil)
		for _, p := range h["Pragma"] {
			if strings.Contains(strings.ToLower(p), "no-cache") {
				d.NoCache = true
			}
		}
		return d
	}
	return parseDirectives(cc)
}

// newResponse builds the stored form of a response. h is owned by the
// result. reqTime and respTime bracket the upstream exchange.
func (c *Cache) newResponse(r *http.Request, status int, h http.Header, body []byte, reqTime, respTime time.Time) *Response {
	cc := c.responseDirectives(h)
	resp := &Response{
		Status:               status,
		Body:                 body,
		RequestTime:          reqTime,
		ResponseTime:         respTime,
		StaleWhileRevalidate: deltaDuration(cc.StaleWhileRevalidate),
		StaleIfError:         deltaDuration(cc.StaleIfError),
		MustRevalidate:       cc.MustRevalidate || cc.ProxyRevalidate || cc.SMaxAge >= 0,
		NoCache:              cc.NoCache,
	}
	resp.Vary, _ = varyNames(h.Values("Vary"))
	if len(resp.Vary) > 0 {
		resp.VaryValues = varyValues(r.Header, resp.Vary)
	}
	resp.Tags = tags(h)
	operator, ok := c.operatorFreshness(r, status, h, cc)
	if !ok {
		operator = -1
	}
	c.setTimes(resp, h, cc, operator)
	resp.Header = storedHeader(h, cc, c.cfg.TargetedCacheControl)
	if _, ok := resp.Header["Content-Length"]; !ok && status != http.StatusNoContent {
		// The body is whole: say how long it is, so that a HEAD answered
		// from this response carries the length a GET has.
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	return resp
}

// setTimes computes resp's InitialAge and Lifetime from h (RFC 9111
// §4.2.1-4.2.3), given its RequestTime and ResponseTime. operator is the
// Config.Freshness lifetime that applies to it, or negative for none; it
// takes the place of the heuristic. Config.NegativeFreshness caps the
// lifetime of a negative response.
func (c *Cache) setTimes(resp *Response, h http.Header, cc directives, operator time.Duration) {
	date := resp.ResponseTime
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	apparent := max(resp.ResponseTime.Sub(date), 0)
	ageValue, _ := parseAge(h.Values("Age"))
	corrected := ageValue + max(resp.ResponseTime.Sub(resp.RequestTime), 0)
	resp.InitialAge = max(apparent, corrected)

	switch {
	case cc.SMaxAge >= 0:
		resp.Lifetime = time.Duration(cc.SMaxAge) * time.Second
	case cc.MaxAge >= 0:
		resp.Lifetime = time.Duration(cc.MaxAge) * time.Second
	case len(h.Values("Expires")) > 0:
		if exp, ok := expiresTime(h.Values("Expires")); ok {
			resp.Lifetime = max(exp.Sub(date), 0)
		}
	case operator >= 0:
		resp.Lifetime = operator
	case heuristicStatus(resp.Status) || cc.Public:
		if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil && lm.Before(date) {
			resp.Lifetime = min(date.Sub(lm)/10, heuristicMax)
		}
	}
	if negative(resp.Status) && c.cfg.NegativeFreshness > 0 {
		resp.Lifetime = min(resp.Lifetime, c.cfg.NegativeFreshness)
	}
}

// storeTTL is how long a store should keep resp: its remaining freshness
// plus the longest window in which it may still be served stale or
// revalidated.
func (c *Cache) storeTTL(resp *Response, now time.Time) time.Duration {
	keep := max(c.cfg.StaleRetention, resp.StaleWhileRevalidate, resp.StaleIfError, c.cfg.StaleIfError)
	ttl := resp.Lifetime - resp.Age(now) + keep
	return min(ttl, maxStoreTTL)
}

// deltaDuration converts a directive's delta-seconds (-1 for absent).
func deltaDuration(n int64) time.Duration {
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Second
}

// tags returns the surrogate keys of a response: Surrogate-Key is
// space-separated, Cache-Tag comma-separated.
func tags(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Surrogate-Key") {
		out = append(out, strings.Fields(v)...)
	}
	for _, v := range h.Values("Cache-Tag") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// refreshed returns a copy of old updated by a 304 response's header h
// (RFC 9111 §4.3.4): every field but those describing the stored body is
// replaced, and freshness is recomputed from the new exchange's times.
// The merged response is checked with the storability rules for a response
// to r (notStorable, the 304's Set-Cookie included): a non-empty reason
// means the result answers this client only and must be neither stored nor
// shared. The result never carries the 304's Set-Cookie.
func (c *Cache) refreshed(r *http.Request, reqCC directives, old *Response, h http.Header, reqTime, respTime time.Time) (*Response, string) {
	merged := old.Header.Clone()
	for k, vs := range h {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Md5", "Content-Range", "Etag":
			continue // describe the stored body
		}
		merged[k] = vs
	}
	cc := c.responseDirectives(merged)
	reason := c.notStorable(r, reqCC, old.Status, merged, cc)
	// A cookie set by the 304 is per client: never part of the stored copy.
	delete(merged, "Set-Cookie")
	delete(merged, "Set-Cookie2")
	// A new Response, not a copy of old: its header is another, so old's
	// prepared form (see prepared) must not come along.
	resp := Response{Status: old.Status, Header: old.Header, Body: old.Body, Vary: old.Vary, VaryValues: old.VaryValues,
		Tags: old.Tags, InitialAge: old.InitialAge, Lifetime: old.Lifetime}
	resp.RequestTime, resp.ResponseTime = reqTime, respTime
	resp.StaleWhileRevalidate = deltaDuration(cc.StaleWhileRevalidate)
	resp.StaleIfError = deltaDuration(cc.StaleIfError)
	resp.MustRevalidate = cc.MustRevalidate || cc.ProxyRevalidate || cc.SMaxAge >= 0
	resp.NoCache = cc.NoCache
	// Age and Date of the stored copy are stale; use only the 304's.
	timing := merged.Clone()
	timing.Del("Age")
	if a := h.Get("Age"); a != "" {
		timing.Set("Age", a)
	}
	if h.Get("Date") == "" {
		timing.Del("Date")
	}
	operator, ok := c.operatorFreshness(r, old.Status, merged, cc)
	if !ok {
		operator = -1
	}
	c.setTimes(&resp, timing, cc, operator)
	resp.Header = storedHeader(merged, cc, c.cfg.TargetedCacheControl)
	resp.Tags = tags(merged)
	return &resp, reason
}

// itoa formats seconds for Age and ttl.
func itoa(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}
