package reqkey

import (
	"net/url"
	"strings"
)

// QueryValue returns the first value of the parameter name in the raw
// query raw, decoded, and whether it is present. It reads raw as
// url.ParseQuery does (pairs split on '&' only; pairs containing ';' and
// pairs that do not decode are skipped) without building the whole
// url.Values map, and allocates only to decode escaped text.
func QueryValue(raw, name string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			d, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = d
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			d, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = d
		}
		return v, true
	}
	return "", false
}
