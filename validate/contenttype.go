package validate

import (
	"net/http"
	"strings"
)

// Content-Type checks shared by spec operations and rules.

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
