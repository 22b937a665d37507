// Package ascii holds the byte classes the packages that read escaped
// text share: percent-escapes in paths, queries and forms.
package ascii

import "strings"

// IsHex reports whether c is a hexadecimal digit (0-9, a-f, A-F).
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Unhex returns the value of the hexadecimal digit c (IsHex(c)).
func Unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// WellFormedQuery reports whether url.ParseQuery accepts the bytes of the
// query (or form body) q: no ';' separator and every '%' followed by two
// hex digits. It finds both with strings.IndexByte, which scans many bytes
// at a time. (url.ParseQuery also limits the number of parameters.)
func WellFormedQuery(q string) bool {
	if strings.IndexByte(q, ';') >= 0 {
		return false
	}
	for i := strings.IndexByte(q, '%'); i >= 0; {
		if i+2 >= len(q) || !IsHex(q[i+1]) || !IsHex(q[i+2]) {
			return false
		}
		j := strings.IndexByte(q[i+3:], '%')
		if j < 0 {
			break
		}
		i += 3 + j
	}
	return true
}
