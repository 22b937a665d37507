package balancer

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/gatekit/gatekit/clientip"
)

// KeyClientIP is a Config.Key that keys a request by its client address
// from clientip.FromRequest (forwarding headers count only from trusted
// proxies), IPv6 addresses aggregated to their /64 so that one subscriber
// maps to one target. It returns "" when the address is unknown.
func KeyClientIP(r *http.Request) string {
	a := clientip.FromRequest(r)
	if !a.IsValid() {
		return ""
	}
	b := clientip.Aggregate(a).As16()
	return string(b[:])
}

// KeyPath is a Config.Key that keys a request by its URL path.
func KeyPath(r *http.Request) string { return r.URL.Path }

// KeyHeader returns a Config.Key that keys a request by the first value of
// header name ("" when absent). Clients choose header values: use it for
// affinity, not for anything a client must not control.
func KeyHeader(name string) func(*http.Request) string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// KeyCookie returns a Config.Key that keys a request by the value of
// cookie name ("" when absent).
func KeyCookie(name string) func(*http.Request) string {
	return func(r *http.Request) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
}

// KeyQuery returns a Config.Key that keys a request by the first value of
// query parameter name, unescaped ("" when absent or malformed).
func KeyQuery(name string) func(*http.Request) string {
	return func(r *http.Request) string { return queryValue(r.URL.RawQuery, name) }
}

// queryValue returns the first value of name in raw without building the
// whole url.Values map. Malformed pairs are skipped, as url.ParseQuery does.
func queryValue(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != name {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		return v
	}
	return ""
}

// ParseKey returns the Config.Key named by spec, for command-line flags
// and configuration files:
//
//	""                   none (every key is "")
//	"ip" or "client-ip"  KeyClientIP
//	"path"               KeyPath
//	"header:NAME"        KeyHeader(NAME)
//	"cookie:NAME"        KeyCookie(NAME)
//	"query:NAME"         KeyQuery(NAME)
//
// It returns an error for anything else; a nil func for "".
func ParseKey(spec string) (func(*http.Request) string, error) {
	kind, name, hasName := strings.Cut(strings.TrimSpace(spec), ":")
	switch kind = strings.ToLower(kind); {
	case kind == "" && !hasName:
		return nil, nil
	case (kind == "ip" || kind == "client-ip") && !hasName:
		return KeyClientIP, nil
	case kind == "path" && !hasName:
		return KeyPath, nil
	case !hasName || name == "":
	case kind == "header":
		if !validHeaderName(name) {
			return nil, fmt.Errorf("balancer: hash key %q: invalid header name", spec)
		}
		return KeyHeader(name), nil
	case kind == "cookie":
		return KeyCookie(name), nil
	case kind == "query":
		return KeyQuery(name), nil
	}
	return nil, fmt.Errorf("balancer: unknown hash key %q (want ip, path, header:NAME, cookie:NAME or query:NAME)", spec)
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}
