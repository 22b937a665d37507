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

// heuristicStatus reports whether status is heuristically cacheable
// (RFC 9110 §15.1) among those we store (206 is never stored).
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// requestDirectives parses the request's Cache-Control, honouring
// "Pragma: no-cache" when Cache-Control is absent (RFC 9111 §5.4).
func requestDirectives(h http.Header) directives {
	cc := h.Values("Cache-Control")
	if len(cc) == 0 {
		d := parseDirectives(nil)
		for _, p := range h.Values("Pragma") {
			if strings.Contains(strings.ToLower(p), "no-cache") {
				d.NoCache = true
			}
		}
		return d
	}
	return parseDirectives(cc)
}

// notStorable returns why a response to r may not be stored by a shared
// cache (RFC 9111 §3, §3.5 and the package's privacy rules), or "".
// The reason is a Cache-Status detail token.
func (c *Cache) notStorable(r *http.Request, reqCC directives, status int, h http.Header, cc directives) string {
	switch {
	case reqCC.NoStore:
		return "request-no-store"
	case status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified:
		return "status"
	}
	understood := http.StatusText(status) != ""
	switch {
	case cc.MustUnderstand && !understood:
		return "status"
	case cc.NoStore && !(cc.MustUnderstand && understood):
		return "no-store"
	case cc.Private:
		return "private"
	}
	if _, star := varyNames(h.Values("Vary")); star {
		return "vary-star"
	}
	if r.Header.Get("Authorization") != "" && !cc.Public && cc.SMaxAge < 0 && !cc.MustRevalidate {
		return "authorization"
	}
	if r.Header.Get("Cookie") != "" && !c.cfg.StoreCookieRequests && !cc.Public && cc.SMaxAge < 0 {
		return "cookie"
	}
	for _, f := range [...]string{"Set-Cookie", "Set-Cookie2"} {
		lf := strings.ToLower(f)
		if len(h.Values(f)) > 0 && !hasField(cc.NoCacheFields, lf) && !hasField(cc.PrivateFields, lf) {
			return "set-cookie"
		}
	}
	if negative(status) && c.cfg.NegativeFreshness < 0 {
		return "negative"
	}
	explicit := cc.SMaxAge >= 0 || cc.MaxAge >= 0 || len(h.Values("Expires")) > 0
	validator := h.Get("ETag") != "" || h.Get("Last-Modified") != ""
	if !explicit && !(validator && (heuristicStatus(status) || cc.Public)) {
		if _, ok := c.operatorFreshness(r, status, h, cc); !ok {
			return "no-freshness"
		}
	}
	return ""
}

// operatorFreshness returns the Config.Freshness lifetime for a response
// to r with status, header h and directives cc, and whether it applies:
// the response has no freshness information of its own and is not
// private by rule.
func (c *Cache) operatorFreshness(r *http.Request, status int, h http.Header, cc directives) (time.Duration, bool) {
	d, ok := c.cfg.Freshness[status]
	switch {
	case !ok, cc.SMaxAge >= 0, cc.MaxAge >= 0, len(h["Expires"]) > 0,
		cc.Private, cc.NoStore,
		r.Header.Get("Authorization") != "",
		r.Header.Get("Cookie") != "" && !c.cfg.StoreCookieRequests,
		len(h["Set-Cookie"]) > 0, len(h["Set-Cookie2"]) > 0:
		return 0, false
	}
	return d, true
}

// negative reports whether status says the resource is missing.
func negative(status int) bool {
	return status == http.StatusNotFound || status == http.StatusGone
}

// validFreshness reports whether every key of m is a status code 200-599
// and every value positive.
func validFreshness(m map[int]time.Duration) bool {
	for status, d := range m {
		if status < 200 || status > 599 || d <= 0 {
			return false
		}
	}
	return true
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

// storedHeader removes from h what must not be stored and clips its slices:
// hop-by-hop fields (RFC 9110 §7.6.1), Age (recomputed on every use), the
// fields named by qualified no-cache and private directives, and own, the
// cache's own targeted field (meant for no one after it; may be empty).
func storedHeader(h http.Header, cc directives, own string) http.Header {
	hopHeaders := [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "Proxy-Authentication-Info", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Age"}
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	delete(h, own)
	for _, f := range cc.NoCacheFields {
		h.Del(f)
	}
	for _, f := range cc.PrivateFields {
		h.Del(f)
	}
	clipHeader(h)
	return h
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
	resp := *old
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

// etagMatch reports whether the If-None-Match list inm matches etag using
// the weak comparison (RFC 9110 §13.1.2).
func etagMatch(inm []string, etag string) bool {
	if etag == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, v := range inm {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// notModified reports whether a conditional request with header rh is
// answered 304 by stored response resp (RFC 9110 §13.2.2).
func notModified(rh http.Header, resp *Response) bool {
	if resp.Status != http.StatusOK {
		return false
	}
	if inm := rh.Values("If-None-Match"); len(inm) > 0 {
		return etagMatch(inm, resp.Header.Get("ETag"))
	}
	ims := rh.Get("If-Modified-Since")
	if ims == "" {
		return false
	}
	t, err := http.ParseTime(ims)
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		// Without Last-Modified, Date is the best estimate (RFC 9111 §4.3.2).
		if lm, err = http.ParseTime(resp.Header.Get("Date")); err != nil {
			return false
		}
	}
	return !lm.After(t)
}

// itoa formats seconds for Age and ttl.
func itoa(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}
