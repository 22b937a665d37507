package header

import "strings"

// HasToken reports whether the comma-separated field values list token,
// compared case-insensitively after trimming spaces (as in Connection:
// keep-alive, Upgrade or TE: trailers).
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
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
