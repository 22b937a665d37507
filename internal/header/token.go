// Package header holds HTTP header syntax checks shared by gatekit's
// packages.
package header

// IsToken reports whether s is an RFC 9110 token: the syntax of field
// names, methods and cookie names. The empty string is not a token.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// IsTokenChar reports whether c is an RFC 9110 tchar.
func IsTokenChar(c byte) bool { return tokenChar[c] }

// tokenChar marks the RFC 9110 tchars.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsValueChar reports whether c may stand in a field value: anything but
// a control byte other than horizontal tab, and DEL (so no CR, LF or NUL;
// obs-text is allowed), the rule net/http checks values with.
func IsValueChar(c byte) bool { return !nonValueChar[c] }

// ValidValue reports whether every byte of s may stand in a field value.
func ValidValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if nonValueChar[s[i]] {
			return false
		}
	}
	return true
}

// nonValueChar marks the bytes a field value may not hold.
var nonValueChar = func() (t [256]bool) {
	for c := range ' ' {
		t[c] = c != '\t'
	}
	t[0x7f] = true
	return t
}()
