package cache

import (
	"net/http"
	"strconv"
	"strings"
)

// writeRange answers a GET carrying one byte range from resp, a complete
// stored 200 response, with 206 Partial Content (RFC 9110 §14), or with
// 416 when the range starts beyond the body, and reports whether it did.
// It leaves the response to the caller (the whole body, which a server
// may always send instead) for anything else: no Range, a HEAD, a range
// unit other than bytes, several ranges, a malformed field, or an
// If-Range that does not match resp. hdr is the header being written.
func writeRange(w http.ResponseWriter, r *http.Request, resp *Response, hdr http.Header) bool {
	ranges := r.Header["Range"] // canonical: Get would canonicalise it on every hit
	if len(ranges) != 1 || ranges[0] == "" || r.Method != http.MethodGet || resp.Status != http.StatusOK {
		return false
	}
	spec := ranges[0]
	if _, ok := resp.Header["Content-Range"]; ok {
		return false
	}
	if ir := r.Header.Get("If-Range"); ir != "" && !ifRangeMatches(ir, resp) {
		return false
	}
	size := int64(len(resp.Body))
	first, last, ok := parseByteRange(spec, size)
	if !ok {
		return false
	}
	if first < 0 {
		hdr["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		delete(hdr, "Content-Length")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return true
	}
	hdr["Content-Range"] = []string{"bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + strconv.FormatInt(size, 10)}
	hdr["Content-Length"] = []string{strconv.FormatInt(last-first+1, 10)}
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(resp.Body[first : last+1])
	return true
}

// parseByteRange parses a Range field holding one byte range against a
// body of size bytes and returns its first and last byte offsets. ok is
// false when the field is not one well-formed byte range; first is -1
// when the range is unsatisfiable (it starts at or beyond the end, or is
// an empty suffix).
func parseByteRange(spec string, size int64) (first, last int64, ok bool) {
	unit, set, found := strings.Cut(spec, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(set, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(set), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix: the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 || b[0] == '+' {
			return 0, 0, false
		}
		if n == 0 || size == 0 {
			return -1, 0, true
		}
		return max(size-n, 0), size - 1, true
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 || a[0] == '+' {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first || b[0] == '+' {
			return 0, 0, false
		}
		last = min(last, size-1)
	}
	if first >= size {
		return -1, 0, true
	}
	return first, last, true
}

// ifRangeMatches reports whether an If-Range value names resp: its strong
// entity tag, or exactly its Last-Modified date (RFC 9110 §13.1.5).
func ifRangeMatches(ir string, resp *Response) bool {
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		etag := resp.Header.Get("ETag")
		return etag != "" && !strings.HasPrefix(etag, "W/") && etag == ir
	}
	lm := resp.Header.Get("Last-Modified")
	return lm != "" && lm == ir
}
