package cache

import (
	"net/http"
	"strings"
	"time"
)

// parseAge returns the value of the Age field lines vals (RFC 9111 §5.1)
// and whether there is one. Only the first member counts: a cache
// that appended its own value after another's, on the same line or on a
// new one, does not make the response older than the first says.
// Parameters after ';' are dropped. A first member that is not a
// non-negative integer (a sign, a fraction, a word) is ignored rather
// than read as "infinitely old": an upstream bug then costs freshness
// accuracy, not every hit.
func parseAge(vals []string) (time.Duration, bool) {
	if len(vals) == 0 {
		return 0, false
	}
	v, _, _ := strings.Cut(vals[0], ",")
	v, _, _ = strings.Cut(v, ";")
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	return time.Duration(parseDelta(v)) * time.Second, true
}

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7) strictly: the
// preferred IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the two
// obsolete forms recipients must accept ("Sunday, 06-Nov-94 08:49:37 GMT",
// "Sun Nov  6 08:49:37 1994"), each with its exact spacing and two-digit
// fields. The zone name's case is not checked. http.ParseTime alone lets
// doubled spaces and one-digit hours through, which makes a malformed
// Expires fresh instead of stale.
func parseHTTPDate(s string) (time.Time, bool) {
	var layout string
	switch {
	case len(s) == len("Sun, 06 Nov 1994 08:49:37 GMT") && s[3] == ',':
		if !shape(s, "aaa, 00 aaa 0000 00:00:00 aaa") {
			return time.Time{}, false
		}
		layout = http.TimeFormat
	case strings.Contains(s, ", "):
		wd, rest, _ := strings.Cut(s, ", ")
		if len(wd) < 6 || !shape(wd, strings.Repeat("a", len(wd))) || !shape(rest, "00-aaa-00 00:00:00 aaa") {
			return time.Time{}, false
		}
		layout = time.RFC850
	case len(s) == len("Sun Nov  6 08:49:37 1994"):
		if !shape(s, "aaa aaa _0 00:00:00 0000") {
			return time.Time{}, false
		}
		layout = time.ANSIC
	default:
		return time.Time{}, false
	}
	if zone := s[len(s)-3:]; zone != "GMT" && strings.EqualFold(zone, "GMT") {
		s = s[:len(s)-3] + "GMT"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// shape reports whether s matches pattern byte by byte: 'a' is an ASCII
// letter, '0' a digit, '_' a space or digit; anything else itself.
func shape(s, pattern string) bool {
	if len(s) != len(pattern) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch pattern[i] {
		case 'a':
			if (c|0x20) < 'a' || (c|0x20) > 'z' {
				return false
			}
		case '0':
			if c < '0' || c > '9' {
				return false
			}
		case '_':
			if c != ' ' && (c < '0' || c > '9') {
				return false
			}
		default:
			if c != pattern[i] {
				return false
			}
		}
	}
	return true
}

// expiresTime returns the time of the Expires field lines vals, and false
// when there is none or it is invalid: more than one line or not an
// HTTP-date (RFC 9111 §5.3 makes an invalid Expires mean "already
// expired").
func expiresTime(vals []string) (time.Time, bool) {
	if len(vals) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(vals[0])
}
