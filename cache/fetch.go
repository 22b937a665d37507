package cache

import (
	"context"
	"net/http"
	"time"
)

// fetch forwards x upstream: a plain miss, or a revalidation when x.stale
// has validators. It streams the response to w while buffering it for the
// store, answers from x.stale after a 304 or, within stale-if-error, after
// a server error, and finally lands x.f (when not nil) with the response
// waiters may share.
func (h *handler) fetch(w http.ResponseWriter, x *exchange) {
	c := h.c
	var shared *Response
	staleError := false
	if x.f != nil {
		defer func() { c.land(x.fkey, x.f, shared, staleError) }()
	}
	c.stats.misses.Add(1)
	out, revalidating := c.conditionalRequest(x)
	out = c.announce(x.r, out)
	reqTime := c.now()
	rec := &recorder{w: w, header: make(http.Header), drop: c.cfg.TargetedCacheControl, limit: c.cfg.MaxObjectSize}
	rec.decide = func(status int, hdr http.Header) (action, string) {
		return c.decide(x, revalidating, status, hdr)
	}
	h.next.ServeHTTP(rec, out)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	shared, staleError = c.finish(w, x, rec, reqTime, c.now())
}

// conditionalRequest returns the request to send upstream for x: x.r
// itself, or, when x.stale has validators, a copy whose only conditions
// are the stored response's (RFC 9111 §4.3.1), with revalidating true.
func (c *Cache) conditionalRequest(x *exchange) (out *http.Request, revalidating bool) {
	if x.stale == nil {
		return x.r, false
	}
	etag, lm := x.stale.Header.Get("ETag"), x.stale.Header.Get("Last-Modified")
	if etag == "" && lm == "" {
		return x.r, false
	}
	c.stats.revalidations.Add(1)
	out = x.r.WithContext(x.r.Context())
	out.Header = x.r.Header.Clone()
	for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		delete(out.Header, k)
	}
	if etag != "" {
		out.Header.Set("If-None-Match", quoteTag(etag))
	}
	if lm != "" {
		out.Header.Set("If-Modified-Since", lm)
	}
	return out, true
}

// announce adds this cache's Surrogate-Capability to out, the request
// forwarded for r (cloning r's header when out is r), so that an origin
// can address Surrogate-Control directives to it by Config.Name.
func (c *Cache) announce(r, out *http.Request) *http.Request {
	if c.cfg.IgnoreSurrogateControl {
		return out
	}
	if out == r {
		out = r.WithContext(r.Context())
		out.Header = r.Header.Clone()
	}
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	out.Header["Surrogate-Capability"] = append(out.Header["Surrogate-Capability"], c.cfg.Name+`="Surrogate/1.0"`)
	return out
}

// decide chooses, when the upstream response's header is written, what the
// recorder does with it, and the Cache-Status member passed on with it.
func (c *Cache) decide(x *exchange, revalidating bool, status int, hdr http.Header) (action, string) {
	if revalidating && status == http.StatusNotModified {
		return actRefresh, ""
	}
	if x.r.Method == http.MethodHead && status == http.StatusOK && x.stale != nil && sameValidators(x.stale.Header, hdr) {
		// A 200 to a HEAD describes the stored GET response as a 304
		// would (RFC 9111 §4.3.5): refresh it and answer from it.
		return actRefresh, ""
	}
	if x.stale != nil && serverError(status) && c.staleIfError(x.stale, c.now()) {
		return actStaleError, ""
	}
	params := "fwd=" + x.fwd
	if revalidating {
		params += "; fwd-status=" + itoa3(status)
	}
	reason := c.notStorable(x.r, x.reqCC, status, hdr, c.responseDirectives(hdr))
	if reason == "" && x.r.Method != http.MethodGet {
		reason = "method"
	}
	if reason == "" {
		if n := contentLength(hdr); n > c.cfg.MaxObjectSize {
			reason = "too-large"
		}
	}
	if reason != "" {
		return actPass, c.cfg.Name + "; " + params + "; detail=" + reason
	}
	return actStore, c.cfg.Name + "; " + params + "; stored"
}

// finish completes x after the upstream handler returned: it stores a
// whole storable response, refreshes the stored one after a 304, or serves
// it after a server error. It returns the response coalesced waiters may
// share (nil for none) and whether it is stale because upstream failed.
func (c *Cache) finish(w http.ResponseWriter, x *exchange, rec *recorder, reqTime, respTime time.Time) (shared *Response, staleError bool) {
	ctx := x.r.Context()
	switch rec.action {
	case actStore:
		if !rec.complete() {
			return nil, false
		}
		resp := c.newResponse(x.r, rec.status, rec.header.Clone(), rec.buf, reqTime, respTime)
		c.storeVariant(ctx, x.key, resp)
		return resp, false
	case actRefresh:
		resp, reason := c.refreshed(x.r, x.reqCC, x.stale, rec.header, reqTime, respTime)
		params := "fwd=" + x.fwd + "; fwd-status=" + itoa3(rec.status)
		switch reason {
		case "":
			c.storeVariant(ctx, x.key, resp)
			shared = resp
		case "request-no-store":
			// This request may not store anything; the stored entry is
			// still what it was, so it stays, unrefreshed.
			params += "; detail=" + reason
		default:
			// The origin now says the response may not be shared (private,
			// Set-Cookie, Vary: *, ...): only this client gets it, and the
			// stored copy goes, so no one else is served the old one either.
			params += "; detail=" + reason
			c.Purge(ctx, x.key)
		}
		// A cookie set by the 304 is for this client only: never stored or
		// shared, but passed on (the stored header has none to overwrite it).
		if sc := rec.header["Set-Cookie"]; len(sc) > 0 {
			copyHeader(w.Header(), http.Header{"Set-Cookie": sc})
		}
		c.serveStored(w, x.r, resp, respTime, params)
		return shared, false
	case actStaleError:
		c.stats.stale.Add(1)
		c.serveStored(w, x.r, x.stale, respTime, "fwd="+x.fwd+"; fwd-status="+itoa3(rec.status)+"; detail=stale-if-error")
		return x.stale, true
	}
	return nil, false
}

// storeVariant adds resp to the entry under key, replacing the variants it
// supersedes: all of them when resp does not vary, otherwise those with the
// same Vary names and values. At most maxVariants are kept, newest last.
func (c *Cache) storeVariant(ctx context.Context, key string, resp *Response) {
	var vs []*Response
	if len(resp.Vary) > 0 {
		if old, ok := c.Get(ctx, key); ok {
			for _, v := range old.Variants {
				if len(v.Vary) > 0 && !(v.VaryValues == resp.VaryValues && equalStrings(v.Vary, resp.Vary)) {
					vs = append(vs, v)
				}
			}
		}
	}
	vs = append(vs, resp)
	if len(vs) > maxVariants {
		vs = vs[len(vs)-maxVariants:]
	}
	c.Set(ctx, key, &Entry{Variants: vs})
}

// serverError reports whether status lets a stale response be used
// instead (RFC 5861 §4).
func serverError(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// contentLength returns the declared body length, or -1.
func contentLength(h http.Header) int64 {
	v := h.Get("Content-Length")
	if v == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || n > 1<<50 {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// itoa3 formats a status code.
func itoa3(status int) string {
	if status < 100 || status > 999 {
		return "0"
	}
	return string([]byte{byte('0' + status/100), byte('0' + status/10%10), byte('0' + status%10)})
}

// equalStrings reports whether a and b hold the same strings in order.
func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameValidators reports whether the header got of a 200 response to a
// HEAD agrees with the stored header on each of ETag, Last-Modified and
// Content-Length that both carry.
func sameValidators(stored, got http.Header) bool {
	for _, k := range [...]string{"Etag", "Last-Modified", "Content-Length"} {
		a, b := stored.Get(k), got.Get(k)
		if a != "" && b != "" && a != b {
			return false
		}
	}
	return true
}
