package pathcanon

import "strings"

// Host returns the routing form of a Host header or URL authority:
// ASCII lower case, without a port and without trailing dots. IPv6
// literals keep their brackets. It does not allocate when h is already
// canonical. Internationalised names must be configured and sent in their
// ASCII (xn--) form.
func Host(h string) string {
	if strings.HasPrefix(h, "[") {
		if k := strings.IndexByte(h, ']'); k > 0 {
			h = h[:k+1]
		}
	} else if k := strings.IndexByte(h, ':'); k >= 0 && strings.IndexByte(h[k+1:], ':') < 0 {
		h = h[:k]
	}
	h = strings.TrimRight(h, ".")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
