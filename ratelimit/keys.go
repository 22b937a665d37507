package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/clientip"
)

// ClientIP is the default KeyFunc: the client address from
// clientip.FromRequest (the one clientip.Middleware resolved, else the
// socket peer; forwarding headers from untrusted peers are never read),
// aggregated by clientip.Aggregate so that a whole IPv6 /64 is one key. A
// request whose address is unknown (a Unix socket) gets the empty key,
// shared by all such requests.
func ClientIP(r *http.Request) string {
	return clientip.Key(r)
}

// Header returns a KeyFunc keying requests by the value of the named
// header. Requests without it share the empty key. Clients choose header
// values freely: combine with ClientIP (see Join) unless a trusted proxy
// sets the header.
func Header(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string { return r.Header.Get(name) }
}

// APIKey returns a KeyFunc keying requests by an API key sent in the named
// header ("X-API-Key" when empty); for "Authorization" the scheme (such as
// "Bearer ") is dropped. The key is stored and logged only as a SHA-256
// prefix, never in clear. Requests without a key share the empty key.
func APIKey(header string) KeyFunc {
	if header == "" {
		header = "X-API-Key"
	}
	header = http.CanonicalHeaderKey(header)
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

// Route keys requests by the pattern that matched them in an
// http.ServeMux (r.Pattern), or by the URL path when there is none. Use it
// to give a route one budget shared by all clients, or Join it with
// ClientIP for a budget per client per route.
func Route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

// Global keys every request by the same key: one budget for all clients.
func Global(*http.Request) string { return "" }

// Join returns a KeyFunc whose key combines the keys of fns, separated by
// NUL bytes, such as Join(ClientIP, Route) for a budget per client and
// route.
func Join(fns ...KeyFunc) KeyFunc {
	fns = append([]KeyFunc(nil), fns...)
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
