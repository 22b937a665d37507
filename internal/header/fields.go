package header

import (
	"net/http"
	"strings"
)

// HasToken reports whether the comma-separated field values list token,
// compared ASCII case-insensitively after trimming spaces and tabs (as in
// Connection: keep-alive, Upgrade or TE: trailers), as net/http matches
// them: no Unicode case folding, so "clo\u017fe" is not "close".
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if EqualFoldASCII(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// EqualFoldASCII reports whether a and b are equal under ASCII case
// folding (no Unicode folding, as HTTP compares tokens).
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// HopByHop reports whether the canonical field name is a hop-by-hop field
// (RFC 9110 §7.6.1 and the proxy authentication fields), which concerns one
// connection and is never forwarded or stored; so are the fields a
// Connection field names, which Forwarded checks too.
func HopByHop(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Authentication-Info", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// Forwarded reports whether the field of canonical name name goes on to the
// next hop (or into a cache): it is not hop-by-hop and not named by the
// message's connection field values.
func Forwarded(name string, connection []string) bool {
	return !HopByHop(name) && (len(connection) == 0 || !HasToken(connection, name))
}

// Adopter is a ResponseWriter that can take a whole header map as its
// own, where fields would otherwise be copied into its map one by one: a
// proxy hands over the header it read from its target this way.
type Adopter interface {
	// AdoptHeader makes h the response's header and reports true when
	// the response's own header is empty and its head not written yet;
	// otherwise it changes nothing and reports false. h then belongs to
	// the response.
	AdoptHeader(h http.Header) bool
}
