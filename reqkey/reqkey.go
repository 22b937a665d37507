// Package reqkey derives keys from requests: the values that rate limits
// count by, hashing policies and sticky splits map to targets by, and
// caches and logs group by.
//
// Every key function has the one type func(*http.Request) string, which
// ratelimit.Config.Key, route.Rule.SplitKey and the proxy's hash key all
// take. The empty string is a key like any other: all requests without the
// value (no such header, an unknown client address) share it.
//
// Keys a client chooses (Header, Cookie, Query) are fine for affinity and
// never for limits a client must not escape: a client sends a new value
// with every request. Limit by ClientIP (from clientip, which trusts
// forwarding headers only from configured proxies), by APIKey, or by Join
// of those with Route.
package reqkey

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/gatekit/gatekit/clientip"
)

// ClientIP keys a request by its client address from clientip.FromRequest
// (the address clientip.Middleware resolved, else the socket peer;
// forwarding headers from untrusted peers are never read), aggregated by
// clientip.Aggregate so that a whole IPv6 /64, which one subscriber
// usually holds, is one key. A request whose address is unknown (a Unix
// socket) gets "".
func ClientIP(r *http.Request) string {
	a := clientip.FromRequest(r)
	if !a.IsValid() {
		return ""
	}
	return clientip.Aggregate(a).String()
}

// Path keys a request by its URL path, as the router saw it.
func Path(r *http.Request) string { return r.URL.Path }

// Route keys a request by the pattern of the route that matched it
// (r.Pattern, which http.ServeMux and route.Table set), or by the URL path
// when no router set one. Under a router, every request to /items/{id}
// shares one key whatever the id.
func Route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

// Global keys every request by "": one budget or target for all.
func Global(*http.Request) string { return "" }

// Header returns a key function that keys a request by the first value of
// the named header ("" when absent). Clients choose header values: use it
// for affinity, or behind a trusted proxy that sets the header.
func Header(name string) func(*http.Request) string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// Cookie returns a key function that keys a request by the value of the
// named cookie ("" when absent).
func Cookie(name string) func(*http.Request) string {
	return func(r *http.Request) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
}

// Query returns a key function that keys a request by the first value of
// the named query parameter, decoded as url.ParseQuery decodes it (""
// when absent or malformed).
func Query(name string) func(*http.Request) string {
	return func(r *http.Request) string {
		v, _ := QueryValue(r.URL.RawQuery, name)
		return v
	}
}

// APIKey returns a key function that keys a request by the API key sent in
// the named header ("X-API-Key" when empty); for "Authorization" the
// scheme (such as "Bearer ") is dropped. The key is returned only as
// "apikey:" and a SHA-256 prefix, so that it is never stored or logged in
// clear. Requests without a key share "".
func APIKey(header string) func(*http.Request) string {
	header = textproto.CanonicalMIMEHeaderKey(cmp.Or(header, "X-API-Key"))
	auth := header == "Authorization"
	return func(r *http.Request) string {
		v := r.Header.Get(header)
		if auth {
			if _, cred, ok := strings.Cut(v, " "); ok {
				v = strings.TrimSpace(cred)
			}
		}
		if v == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(v))
		return "apikey:" + hex.EncodeToString(sum[:12])
	}
}

// Join returns a key function whose key combines the keys of fns,
// separated by NUL bytes, such as Join(ClientIP, Route) for one budget per
// client and route.
func Join(fns ...func(*http.Request) string) func(*http.Request) string {
	fns = append([]func(*http.Request) string(nil), fns...)
	return func(r *http.Request) string {
		var b strings.Builder
		for i, f := range fns {
			if i > 0 {
				b.WriteByte(0)
			}
			b.WriteString(f(r))
		}
		return b.String()
	}
}
