package validate

import (
	"net/http"
	"strings"
)

// Content-Type checks shared by spec operations and rules.

// contentType is r.Header.Get("Content-Type") without canonicalising the
// name on every call (it is canonical already).
func contentType(r *http.Request) string {
	if v := r.Header["Content-Type"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// singleContentType refuses (415) a request with a body whose Content-Type
// is given on more than one header line, or as a comma-separated list on
// one: only one of them would be checked, and the backend may use another.
func singleContentType(r *http.Request, body []byte) *Error {
	if len(body) == 0 {
		return nil
	}
	lines := r.Header["Content-Type"]
	if len(lines) > 1 || len(lines) == 1 && hasUnquotedComma(lines[0]) {
		return newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "the request has more than one Content-Type", nil, nil)
	}
	return nil
}

// hasUnquotedComma reports whether s has a comma outside a quoted string.
func hasUnquotedComma(s string) bool {
	if strings.IndexByte(s, ',') < 0 {
		return false
	}
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return true
		}
	}
	return false
}

// utf8Charset reports whether the parameters of a Content-Type value leave
// the charset absent or say utf-8 (case-insensitive, optionally quoted),
// the only encoding of JSON (RFC 8259 8.1). A charset given twice fails.
func utf8Charset(ct string) bool {
	_, params, _ := strings.Cut(ct, ";")
	seen := false
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "charset") {
			continue
		}
		if seen {
			return false
		}
		seen = true
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if !strings.EqualFold(val, "utf-8") {
			return false
		}
	}
	return true
}

// errCharset is the 415 for a JSON body declared in another charset.
func errCharset() *Error {
	return newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "JSON bodies must be UTF-8: the charset parameter, if any, must be utf-8", nil, nil)
}
