package cache

import (
	"context"
	"net/http"
)

// fetch forwards r upstream: a plain miss, or a revalidation when stale
// (the stored response r could not use) has validators. It streams the
// response to w while buffering it for the store, answers from stale after
// a 304 or, within stale-if-error, after a server error, and finally lands
// flight f (when not nil) under fkey with the response waiters may share.
func (h *handler) fetch(w http.ResponseWriter, r *http.Request, key, fkey string, f *flight, stale *Response, reqCC directives, fwd string) {
	c := h.c
	var shared *Response
	staleError := false
	if f != nil {
		defer func() { c.land(fkey, f, shared, staleError) }()
	}
	c.stats.misses.Add(1)
	out := r
	revalidating := false
	if stale != nil {
		etag, lm := stale.Header.Get("ETag"), stale.Header.Get("Last-Modified")
		if etag != "" || lm != "" {
			revalidating = true
			c.stats.revalidations.Add(1)
			out = r.WithContext(r.Context())
			out.Header = r.Header.Clone()
			for _, k := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
				delete(out.Header, k)
			}
			if etag != "" {
				out.Header.Set("If-None-Match", etag)
			}
			if lm != "" {
				out.Header.Set("If-Modified-Since", lm)
			}
		}
	}
	reqTime := c.now()
	rec := &recorder{w: w, header: make(http.Header), limit: c.cfg.MaxObjectSize}
	rec.decide = func(status int, hdr http.Header) (action, string) {
		if revalidating && status == http.StatusNotModified {
			return actRefresh, ""
		}
		if stale != nil && serverError(status) && c.staleIfError(stale, c.now()) {
			return actStaleError, ""
		}
		params := "fwd=" + fwd
		if revalidating {
			params += "; fwd-status=" + itoa3(status)
		}
		reason := c.notStorable(r, reqCC, status, hdr, c.responseDirectives(hdr))
		if reason == "" && r.Method != http.MethodGet {
			reason = "method"
		}
		if reason == "" {
			if n := contentLength(hdr); n > c.cfg.MaxObjectSize {
				reason = "too-large"
			}
		}
		if reason != "" {
			params += "; detail=" + reason
		} else {
			params += "; stored"
		}
		if reason != "" {
			return actPass, c.cfg.Name + "; " + params
		}
		return actStore, c.cfg.Name + "; " + params
	}
	h.next.ServeHTTP(rec, out)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	respTime := c.now()
	ctx := r.Context()
	switch rec.action {
	case actStore:
		if !rec.complete() {
			return
		}
		resp := c.newResponse(r, rec.status, rec.header.Clone(), rec.buf, reqTime, respTime)
		c.storeVariant(ctx, key, resp)
		shared = resp
	case actRefresh:
		resp, reason := c.refreshed(r, reqCC, stale, rec.header, reqTime, respTime)
		params := "fwd=" + fwd + "; fwd-status=304"
		switch reason {
		case "":
			c.storeVariant(ctx, key, resp)
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
			c.Purge(ctx, key)
		}
		// A cookie set by the 304 is for this client only: never stored or
		// shared, but passed on (the stored header has none to overwrite it).
		if sc := rec.header["Set-Cookie"]; len(sc) > 0 {
			copyHeader(w.Header(), http.Header{"Set-Cookie": sc})
		}
		c.serveStored(w, r, resp, respTime, params)
	case actStaleError:
		c.stats.stale.Add(1)
		shared, staleError = stale, true
		c.serveStored(w, r, stale, respTime, "fwd="+fwd+"; fwd-status="+itoa3(rec.status)+"; detail=stale-if-error")
	}
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
