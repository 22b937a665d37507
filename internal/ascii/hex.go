// Package ascii holds the byte classes the packages that read escaped
// text share: percent-escapes in paths, queries and forms.
package ascii

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
