package cache

import (
	"net/http"
	"strings"
)

// etagMatch reports whether the If-None-Match list inm matches etag using
// the weak comparison (RFC 9110 §13.1.2).
func etagMatch(inm []string, etag string) bool {
	if etag == "" {
		return false
	}
	etag = opaqueTag(etag)
	for _, v := range inm {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || opaqueTag(t) == etag {
				return true
			}
		}
	}
	return false
}

// opaqueTag returns an entity tag without its weakness prefix and quotes,
// so that a tag an origin or client sent unquoted matches its quoted form.
func opaqueTag(t string) string {
	t = strings.TrimPrefix(t, "W/")
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		return t[1 : len(t)-1]
	}
	return t
}

// quoteTag returns entity tag t with the quotes RFC 9110 §8.8.3 requires:
// abc becomes "abc" and W/abc W/"abc"; a quoted tag is returned as is.
func quoteTag(t string) string {
	weak := strings.HasPrefix(t, "W/")
	o := strings.TrimPrefix(t, "W/")
	if len(o) >= 2 && o[0] == '"' && o[len(o)-1] == '"' {
		return t
	}
	if weak {
		return `W/"` + o + `"`
	}
	return `"` + o + `"`
}

// quoteTags returns the If-None-Match lines vals as one line with every
// entity tag quoted, and whether that changed anything.
func quoteTags(vals []string) (string, bool) {
	changed := false
	var b strings.Builder
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			q := t
			if t != "*" {
				q = quoteTag(t)
			}
			changed = changed || q != t
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(q)
		}
	}
	return b.String(), changed
}

// notModified reports whether a conditional request with header rh is
// answered 304 by stored response resp (RFC 9110 §13.2.2).
func notModified(rh http.Header, resp *Response) bool {
	if resp.Status != http.StatusOK {
		return false
	}
	// Canonical names index the maps directly (Get would canonicalise
	// them again on every hit).
	if inm := rh["If-None-Match"]; len(inm) > 0 {
		return etagMatch(inm, resp.Header.Get("ETag"))
	}
	ims := rh["If-Modified-Since"]
	if len(ims) == 0 || ims[0] == "" {
		return false
	}
	t, err := http.ParseTime(ims[0])
	if err != nil {
		return false
	}
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		// Without Last-Modified, Date is the best estimate (RFC 9111 §4.3.2).
		if lm, err = http.ParseTime(resp.Header.Get("Date")); err != nil {
			return false
		}
	}
	return !lm.After(t)
}
