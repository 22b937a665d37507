package cache

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatekit/gatekit/internal/header"
)

// heuristicStatus reports whether status is heuristically cacheable
// (RFC 9110 §15.1) among those we store (206 is never stored).
func heuristicStatus(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
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
		if len(h.Values(f)) > 0 && !slices.Contains(cc.NoCacheFields, lf) && !slices.Contains(cc.PrivateFields, lf) && !c.cfg.InsecureStoreSetCookie {
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
// whose responses the cache may store under negativeFreshness (the
// Config's NegativeFreshness), and every value positive: a lifetime the
// cache could never use is a mistake New reports.
func validFreshness(m map[int]time.Duration, negativeFreshness time.Duration) bool {
	for status, d := range m {
		switch {
		case status < 200 || status > 599 || d <= 0,
			status == http.StatusPartialContent || status == http.StatusNotModified, // never stored
			negative(status) && negativeFreshness < 0:                               // never stored either
			return false
		}
	}
	return true
}

// storedHeader removes from h what must not be stored and clips its slices:
// hop-by-hop fields (RFC 9110 §7.6.1), Age (recomputed on every use), the
// fields named by qualified no-cache and private directives, and own, the
// cache's own targeted field (meant for no one after it; may be empty).
func storedHeader(h http.Header, cc directives, own string) http.Header {
	conn := h["Connection"]
	for k := range h {
		if !header.Forwarded(k, conn) {
			delete(h, k)
		}
	}
	delete(h, "Age")
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
