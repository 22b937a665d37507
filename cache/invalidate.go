package cache

import "net/http"

// Invalidator returns middleware for the routes that change what c
// stores when c's Middleware is mounted on some routes only, such as the
// GET routes of a path: it forwards every request to next and, for an
// unsafe method (POST, PUT, DELETE, PATCH, ...) answered with a status
// below 400, invalidates c's stored responses for the request's URI and
// for same-host Location and Content-Location URIs, as Middleware does
// for the unsafe requests it sees itself. It never answers from or
// stores into c. Without it, a cache mounted on GET routes alone never
// sees the writes, and a stored response stays until it expires or is
// purged.
func Invalidator(c *Cache) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		h := &handler{c: c, next: next}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			h.other(w, r)
		})
	}
}

// other forwards a request whose method is not GET or HEAD and, for an
// unsafe method answered with a non-error status, invalidates the stored
// responses for its target URI and same-host Location and Content-Location
// (RFC 9111 §4.4).
func (h *handler) other(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.stats.misses.Add(1)
	rec := &recorder{w: w, header: make(http.Header), drop: c.cfg.TargetedCacheControl, decide: c.passMethod}
	h.next.ServeHTTP(rec, r)
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	switch r.Method {
	case http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return
	}
	if rec.status < 200 || rec.status >= 400 {
		return
	}
	ctx := r.Context()
	c.Purge(ctx, c.Key(r))
	for _, name := range []string{"Location", "Content-Location"} {
		v := rec.header.Get(name)
		if v == "" {
			continue
		}
		u, err := r.URL.Parse(v)
		if err != nil {
			continue
		}
		target := r.WithContext(ctx)
		target.URL = u
		if u.Host != "" {
			if (u.Scheme == "https") != (r.TLS != nil) || canonicalHost(u.Host, u.Scheme) != canonicalHost(r.Host, u.Scheme) {
				continue // another origin
			}
			target.Host = u.Host
		}
		c.Purge(ctx, c.Key(target))
	}
}
