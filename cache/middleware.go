package cache

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/internal/problem"
)

// Middleware returns middleware answering GET and HEAD requests from c and
// storing the responses of next that a shared cache may store. Every
// response carries a Cache-Status member (RFC 9211) named c's Config.Name;
// a stale response served says detail=stale (or detail=stale-if-error),
// which is what the obsolete Warning header said.
// Unsafe requests (POST, PUT, DELETE, ...) pass through and, when they
// succeed, invalidate the stored responses for their URI and for same-host
// Location and Content-Location URIs; mounted on GET routes only, it never
// sees them, and the routes that write need [Invalidator].
//
// GET and HEAD requests are forwarded as the key sees them: with the query
// after Config.QueryInclude and QueryExclude, the canonical host (lowercase,
// no trailing dot, no default port) and without Config.StripRequestHeaders.
//
// Header fields an outer handler set on the ResponseWriter before calling
// the middleware are replaced by the same fields of the response, except
// Vary, Set-Cookie, Link and Via, whose values are appended to the outer
// ones (values the outer handler already set are not repeated).
//
// A response from the store shares its header's value slices, and a
// fresh hit its Age and Cache-Status values, with other responses: an
// outer handler may replace a field or append to it (the slices' capacity
// equals their length, so an append copies) but must not assign to an
// element in place.
//
// The writer given to next keeps http.Flusher and offers Unwrap for
// http.ResponseController; responses are streamed to the client as they
// arrive even while they are being stored. The "stored" in Cache-Status is
// decided when the header is written, so it means "handed to the store",
// not "kept": a response without Content-Length that then exceeds
// Config.MaxObjectSize streams on but is not stored, and a best-effort
// store may still drop the entry (ristretto's admission policy or a full
// Set buffer, an unreachable Redis), which is known only after the header
// has been sent.
func Middleware(c *Cache) func(http.Handler) http.Handler {
	onErr := c.cfg.ErrorHandler
	if onErr == nil {
		onErr = func(w http.ResponseWriter, _ *http.Request, _ error) {
			problem.Write(w, http.StatusGatewayTimeout, "no stored response and the request allows only a cached one")
		}
	}
	return func(next http.Handler) http.Handler {
		return &handler{c: c, next: next, onErr: onErr}
	}
}

// handler is the middleware's http.Handler.
type handler struct {
	c     *Cache
	next  http.Handler
	onErr func(http.ResponseWriter, *http.Request, error)
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		h.other(w, r)
		return
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		h.pass(w, r, "fwd=bypass; detail=body")
		return
	case c.closed.Load():
		h.pass(w, r, "fwd=bypass; detail=closed")
		return
	}
	arrival := c.flightSeq.Load()
	r = h.prepare(r)
	key, kb := c.borrowKey(r)
	x := exchange{r: r, key: key, reqCC: requestDirectives(r.Header)}
	served := h.serveFromStore(w, &x)
	if !served && c.storeBorrows {
		x.key = strings.Clone(x.key) // a view of kb; flights and the store keep it
	}
	c.putKey(kb)
	if !served {
		h.forward(w, x, arrival)
	}
}

// forward answers x, which the store could not answer, from upstream: as
// the leader of or a waiter for a flight (coalescing), or alone. x is a
// copy so that a hit never allocates one on the heap.
func (h *handler) forward(w http.ResponseWriter, x exchange, arrival uint64) {
	c, r := h.c, x.r
	if x.reqCC.OnlyIfCached {
		w.Header()["Cache-Status"] = append(w.Header()["Cache-Status"], c.cfg.Name+"; fwd=miss; detail=only-if-cached")
		recordVerdict(w, "fwd=miss", false)
		h.onErr(w, r, ErrNotCached)
		return
	}
	if r.Method == http.MethodHead {
		if x.stale == nil {
			h.pass(w, r, "fwd="+x.fwd)
			return
		}
		// Its answer may freshen the stored response (see decide).
		h.fetch(w, &x)
		return
	}
	if c.cfg.CoalesceTimeout < 0 || x.reqCC.NoStore {
		h.fetch(w, &x)
		return
	}
	h.coalesce(w, &x, arrival)
}

// An exchange is one GET or HEAD request the middleware handles, and what
// it learnt about the request while looking it up and forwarding it.
type exchange struct {
	r     *http.Request
	key   string     // primary cache key; during serveFromStore possibly a view of a pooled buffer (see borrowKey)
	reqCC directives // the request's cache directives
	// stale is the stored response selected for r that could not be used
	// as it is (a revalidation candidate), or nil.
	stale *Response
	// fwd is the Cache-Status "fwd" parameter: why r goes upstream.
	fwd string
	// f, when not nil, is the flight r leads, landed under fkey when the
	// response is known.
	f    *flight
	fkey string
}

// serveFromStore answers x from the store when a stored response may be
// used, and reports whether it did. Otherwise it records in x the stored
// response it could not use and why x goes upstream.
func (h *handler) serveFromStore(w http.ResponseWriter, x *exchange) bool {
	c, r := h.c, x.r
	now := c.now()
	gen := c.indexGen.Load()
	entry, found := c.Get(r.Context(), x.key)
	if !found {
		c.forget(x.key, gen)
	}
	resp := selectVariant(entry, r.Header)
	x.fwd = "uri-miss"
	switch {
	case resp != nil:
		switch c.reuse(resp, x.reqCC, now) {
		case useFresh:
			c.stats.hits.Add(1)
			c.serveStored(w, r, resp, now, "hit")
			return true
		case useStale:
			c.stats.hits.Add(1)
			c.stats.stale.Add(1)
			c.serveStored(w, r, resp, now, "hit; detail=stale")
			return true
		case useSWR:
			c.stats.hits.Add(1)
			c.stats.stale.Add(1)
			h.revalidateInBackground(r, strings.Clone(x.key), resp) // x.key may be a view of a pooled buffer
			c.serveStored(w, r, resp, now, "hit; detail=stale")
			return true
		}
		x.stale = resp
		x.fwd = "stale"
		if x.reqCC.NoCache || x.reqCC.MaxAge >= 0 || x.reqCC.MinFresh >= 0 {
			x.fwd = "request"
		}
	case entry != nil:
		x.fwd = "vary-miss"
	}
	return false
}

// coalesce forwards x upstream unless an identical request (same key and
// Vary values) is already upstream: then it waits for that response and
// shares it when it may. arrival is c.flightSeq when r arrived.
func (h *handler) coalesce(w http.ResponseWriter, x *exchange, arrival uint64) {
	c, r := h.c, x.r
	fkey := x.key
	if x.stale != nil && len(x.stale.Vary) > 0 {
		fkey = x.key + "\n" + varyValues(r.Header, x.stale.Vary)
	}
	var f *flight
	var leader bool
	waiterCC := x.reqCC
	if x.reqCC.NoCache {
		// A no-cache request may not use what was stored before it
		// arrived, but a response from a flight that started after it
		// arrived comes from the origin now: it may share that one. A
		// flight already running when it arrived is waited for first, so
		// that many no-cache requests make one upstream request at a time.
		var older *flight
		if f, leader, older = c.joinAfter(fkey, arrival, nil); older != nil {
			if c.waitLanded(r.Context(), older) {
				f, leader, older = c.joinAfter(fkey, arrival, older)
			}
			if older != nil {
				h.fetch(w, x)
				return
			}
		}
		waiterCC.NoCache = false
	} else {
		f, leader = c.join(fkey)
	}
	if !leader {
		if res, ok := c.await(r.Context(), f); ok && variantMatches(res, r.Header) {
			now := c.now()
			if f.staleError && c.staleIfError(res, now) {
				// The leader's upstream failed: share the stale response
				// rather than send every waiter to the failing backend.
				c.stats.coalesced.Add(1)
				c.stats.stale.Add(1)
				c.serveStored(w, r, res, now, "fwd="+x.fwd+"; collapsed; detail=stale-if-error")
				return
			}
			if !f.staleError && c.reuse(res, waiterCC, now) != useNone {
				c.stats.coalesced.Add(1)
				c.serveStored(w, r, res, now, "fwd="+x.fwd+"; collapsed")
				return
			}
		}
		h.fetch(w, x)
		return
	}
	// A flight may have landed between our lookup and join: look again.
	if e, ok := c.Get(r.Context(), x.key); ok {
		if res := selectVariant(e, r.Header); res != nil && res != x.stale && c.reuse(res, x.reqCC, c.now()) == useFresh {
			c.land(fkey, f, res, false)
			c.stats.hits.Add(1)
			c.serveStored(w, r, res, c.now(), "hit")
			return
		}
	}
	x.f, x.fkey = f, fkey
	h.fetch(w, x)
}

// reuse is how a stored response may be used for a request.
type reuse int

const (
	useNone  reuse = iota // forward (revalidate if possible)
	useFresh              // fresh and acceptable
	useStale              // stale, allowed by the request's max-stale
	useSWR                // stale within stale-while-revalidate: serve and refresh
)

// reuse decides how resp may satisfy a request with directives reqCC at now
// (RFC 9111 §4.2, §5.2.1; RFC 5861).
func (c *Cache) reuse(resp *Response, reqCC directives, now time.Time) reuse {
	if resp.NoCache || reqCC.NoCache {
		// A request's no-store forbids storing, not using what is stored
		// (RFC 9111 §5.2.1.5): such a request is answered from the store
		// when it can be, since it never waits for a concurrent identical
		// request and would otherwise be a path to the backend around
		// both the cache and coalescing.
		return useNone
	}
	age := resp.Age(now)
	if reqCC.MaxAge >= 0 && age > time.Duration(reqCC.MaxAge)*time.Second {
		return useNone
	}
	remaining := resp.Lifetime - age
	if remaining > 0 {
		if reqCC.MinFresh >= 0 && remaining < time.Duration(reqCC.MinFresh)*time.Second {
			return useNone
		}
		return useFresh
	}
	if resp.MustRevalidate {
		return useNone
	}
	stale := -remaining
	if reqCC.MaxStaleAny || (reqCC.MaxStale >= 0 && stale <= time.Duration(reqCC.MaxStale)*time.Second) {
		return useStale
	}
	swr := resp.StaleWhileRevalidate
	if swr < 0 {
		swr = c.cfg.StaleWhileRevalidate
	}
	if swr > 0 && stale < swr && reqCC.MinFresh < 0 && reqCC.MaxAge < 0 {
		return useSWR
	}
	return useNone
}

// staleIfError reports whether resp may be served at now because
// revalidating it failed.
func (c *Cache) staleIfError(resp *Response, now time.Time) bool {
	if resp.MustRevalidate || resp.NoCache {
		return false
	}
	sie := resp.StaleIfError
	if sie < 0 {
		sie = c.cfg.StaleIfError
	}
	return resp.Age(now)-resp.Lifetime <= sie
}

// selectVariant returns the newest stored response in e whose Vary values
// match the request header h, or nil.
func selectVariant(e *Entry, h http.Header) *Response {
	if e == nil {
		return nil
	}
	for i := len(e.Variants) - 1; i >= 0; i-- {
		if v := e.Variants[i]; variantMatches(v, h) {
			return v
		}
	}
	return nil
}

// variantMatches reports whether resp may answer a request with header h
// as far as Vary is concerned (RFC 9111 §4.1).
func variantMatches(resp *Response, h http.Header) bool {
	return len(resp.Vary) == 0 || varyValues(h, resp.Vary) == resp.VaryValues
}

// serveStored writes resp as the answer to r: the stored header, Age, a
// Cache-Status member with params (and the remaining ttl), and the body;
// 304 when r's own conditions match, 206 (or 416) for one byte range.
func (c *Cache) serveStored(w http.ResponseWriter, r *http.Request, resp *Response, now time.Time, params string) {
	age := resp.Age(now)
	ttl := int64((resp.Lifetime - age) / time.Second)
	if params == "hit" && c.servePrepared(w, r, resp, age, ttl) {
		return
	}
	hdr := w.Header()
	copyHeader(hdr, resp.Header)
	hdr["Age"] = c.hit.age(int64(age / time.Second)).value
	if st := hdr["Cache-Status"]; len(st) == 0 && params == "hit" {
		hdr["Cache-Status"] = c.hit.status(c.cfg.Name, ttl).value
	} else {
		var buf [64]byte
		b := append(buf[:0], c.cfg.Name...)
		b = append(b, "; "...)
		b = append(b, params...)
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, ttl, 10)
		hdr["Cache-Status"] = append(st, string(b))
	}
	recordVerdict(w, params, true)
	if notModified(r.Header, resp) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if writeRange(w, r, resp, hdr) {
		return
	}
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

// servePrepared answers a fresh hit through a writer that takes the stored
// header serialised once (header.PreparedWriter: the Server's own HTTP/1
// loop) instead of copying it into the header map and writing it from
// there, when no field needs merging or changing: a GET without a range
// or a condition that matches, with none of the answer's fields set on w
// yet. It reports whether it answered.
func (c *Cache) servePrepared(w http.ResponseWriter, r *http.Request, resp *Response, age time.Duration, ttl int64) bool {
	pw, ok := w.(header.PreparedWriter)
	if !ok || r.Method != http.MethodGet || len(r.Header["Range"]) > 0 || notModified(r.Header, resp) {
		return false
	}
	for k := range w.Header() {
		if _, ok := resp.Header[k]; ok || k == "Age" || k == "Cache-Status" {
			return false
		}
	}
	p := resp.prepared()
	if p == nil {
		return false
	}
	extra := [2]string{c.hit.age(int64(age / time.Second)).line, c.hit.status(c.cfg.Name, ttl).line}
	if _, ok := pw.WritePrepared(resp.Status, p, extra, resp.Body); !ok {
		return false
	}
	recordVerdict(w, "hit", true)
	return true
}

// prepare applies the query lists, rewrites the host to the canonical form
// the key uses, strips the unkeyed headers and puts back the quotes a
// client left off the entity tags in If-None-Match (so an origin that
// compares them as sent can match), returning r itself when nothing
// changes. The key folds "EXAMPLE.com.", "example.com:80" and
// "example.com" into one; forwarding the request with that one host keeps
// a backend that matches virtual hosts exactly from answering a variant
// with another site stored under the canonical key.
func (h *handler) prepare(r *http.Request) *http.Request {
	cfg := &h.c.cfg
	q := filterQuery(r.URL.RawQuery, cfg.QueryInclude, cfg.QueryExclude)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := canonicalHost(r.Host, scheme)
	urlHost := r.URL.Host
	if urlHost != "" {
		urlHost = canonicalHost(urlHost, scheme)
	}
	strip := h.c.strip.any(r.Header)
	inm, requote := quoteTags(r.Header["If-None-Match"])
	if q == r.URL.RawQuery && host == r.Host && urlHost == r.URL.Host && !strip && !requote {
		return r
	}
	r2 := r.WithContext(r.Context())
	r2.Host = host
	if q != r.URL.RawQuery || urlHost != r.URL.Host {
		u := *r.URL
		u.RawQuery = q
		u.Host = urlHost
		r2.URL = &u
		if r.RequestURI != "" {
			r2.RequestURI = u.RequestURI()
		}
	}
	if strip || requote {
		r2.Header = r.Header.Clone()
		for _, k := range cfg.StripRequestHeaders {
			r2.Header.Del(k)
		}
		if requote {
			r2.Header["If-None-Match"] = []string{inm}
		}
	}
	return r2
}

// pass forwards r to next unchanged, adding a Cache-Status member.
func (h *handler) pass(w http.ResponseWriter, r *http.Request, params string) {
	c := h.c
	c.stats.misses.Add(1)
	rec := &recorder{w: w, header: make(http.Header), drop: c.cfg.TargetedCacheControl, decide: func(int, http.Header) (action, string) {
		return actPass, c.cfg.Name + "; " + params
	}}
	h.next.ServeHTTP(rec, r)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
}

// revalidateInBackground refreshes stale in an owned goroutine, unless a
// refresh for it is already running or the bound is reached. The refresh
// is a GET (also when a HEAD triggered it, which could not refresh the
// body) without the triggering client's credentials, cookies, conditions
// or range: its response is stored for everyone and no one sees it now.
func (h *handler) revalidateInBackground(r *http.Request, key string, stale *Response) {
	fkey := key
	if len(stale.Vary) > 0 {
		fkey = key + "\n" + stale.VaryValues
	}
	out := r.Clone(context.Background())
	out.Method = http.MethodGet
	out.Body = http.NoBody
	for _, k := range [...]string{"Authorization", "Proxy-Authorization", "Cookie", "Range",
		"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"} {
		delete(out.Header, k)
	}
	h.c.goBackground(fkey, func(ctx context.Context, f *flight) {
		defer func() { _ = recover() }() // a failing upstream must not crash the process
		x := &exchange{r: out.WithContext(ctx), key: key, reqCC: parseDirectives(nil), stale: stale, fwd: "stale", f: f, fkey: fkey}
		h.fetch(&discard{h: make(http.Header)}, x)
	})
}
