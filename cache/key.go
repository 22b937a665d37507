package cache

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unsafe"
)

// DefaultStripHeaders returns the request headers removed by default from
// requests the cache handles (Config.StripRequestHeaders): headers that
// backends commonly reflect into responses but that are not part of the
// cache key, the classic cache-poisoning vectors.
func DefaultStripHeaders() []string {
	return []string{
		"X-Forwarded-Host", "X-Forwarded-Scheme", "X-Forwarded-Server", "X-Host",
		"X-Original-Host", "X-Original-URL", "X-Rewrite-URL",
		"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	}
}

// stripSet is a list of canonical field names (Config.StripRequestHeaders)
// asked whether a request carries any of them. A request usually has fewer
// fields than the list has names: going through its fields, and comparing
// only names of the same length, is then cheaper than looking each name up
// (a map lookup hashes the name).
type stripSet struct {
	names []string
	lens  uint64 // bit n: a name is n bytes long (n < 64)
	long  bool   // a name is 64 bytes or longer
}

func newStripSet(names []string) stripSet {
	s := stripSet{names: names}
	for _, k := range names {
		if len(k) < 64 {
			s.lens |= 1 << len(k)
		} else {
			s.long = true
		}
	}
	return s
}

// any reports whether h has a field named in s.
func (s stripSet) any(h http.Header) bool {
	if len(h) >= len(s.names) {
		for _, k := range s.names {
			if _, ok := h[k]; ok {
				return true
			}
		}
		return false
	}
	for k := range h {
		if len(k) < 64 && s.lens&(1<<len(k)) == 0 || len(k) >= 64 && !s.long {
			continue
		}
		if slices.Contains(s.names, k) {
			return true
		}
	}
	return false
}

// requestKey returns the primary cache key of r: method, scheme, canonical
// host, escaped path and the exact raw query, e.g.
// "GET https://example.com/a/b?x=1". method is GET for HEAD requests.
func requestKey(method string, r *http.Request) string {
	var buf [128]byte // on the stack: the string conversion is the one allocation
	return string(appendKey(buf[:0], method, r, false))
}

// appendKey appends the primary cache key of r (see requestKey) to b.
// canonical says that r's hosts are already canonical (r came from
// handler.prepare), so that they are not lowercased and trimmed again.
func appendKey(b []byte, method string, r *http.Request, canonical bool) []byte {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if !canonical {
		host = canonicalHost(host, scheme)
	}
	if host == "" && r.URL != nil {
		if host = r.URL.Host; !canonical {
			host = canonicalHost(host, scheme)
		}
	}
	path := "/"
	query := ""
	if r.URL != nil {
		if p := r.URL.EscapedPath(); p != "" {
			path = p
		}
		query = r.URL.RawQuery
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, scheme...)
	b = append(b, "://"...)
	b = append(b, host...)
	b = append(b, path...)
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	return b
}

// maxPooledKey is the largest key buffer kept for reuse (see Cache.keyBufs).
const maxPooledKey = 4 << 10

// borrowKey builds the primary GET key of r, a request handler.prepare
// returned, in a buffer from c's pool and
// returns it with the buffer, which the caller hands back to putKey once
// the key is no longer used. The key is a view of the buffer when c's
// store keeps nothing of a key it is given to Get (the stores of this
// package), so that a lookup allocates nothing; a caller that keeps the
// key beyond putKey must copy it (strings.Clone). Other stores get a copy.
func (c *Cache) borrowKey(r *http.Request) (string, *[]byte) {
	bp, _ := c.keyBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = appendKey((*bp)[:0], http.MethodGet, r, true)
	if !c.storeBorrows {
		return string(*bp), bp
	}
	// The view is valid until the buffer is reused after putKey.
	return unsafe.String(unsafe.SliceData(*bp), len(*bp)), bp
}

// putKey returns a buffer from borrowKey to the pool.
func (c *Cache) putKey(bp *[]byte) {
	if cap(*bp) <= maxPooledKey {
		c.keyBufs.Put(bp)
	}
}

// canonicalHost lowercases host, drops a trailing dot and the scheme's
// default port. It returns host itself, without allocating, when host is
// already canonical.
func canonicalHost(host, scheme string) string {
	h, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		h, port = host[:i], host[i+1:]
	}
	lh := lowerASCII(strings.TrimSuffix(h, "."))
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return lh
	}
	if lh == h {
		return host
	}
	return lh + ":" + port
}

// lowerASCII lowercases s without allocating when it is already lowercase.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// filterQuery applies the include and exclude lists to a raw query. Pairs are
// split on '&' only, exactly as they are forwarded; a pair's name is compared
// after unescaping, so "%63b" matches "cb". Everything not removed is kept
// byte for byte. include, when non-empty, keeps only the listed names.
func filterQuery(raw string, include, exclude []string) string {
	if raw == "" || (len(include) == 0 && len(exclude) == 0) {
		return raw
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(raw, "&") {
		name := pair
		if i := strings.IndexByte(name, '='); i >= 0 {
			name = name[:i]
		}
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
		if len(include) > 0 && !slices.Contains(include, name) {
			continue
		}
		if slices.Contains(exclude, name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// varyNames returns the canonical header names listed in the Vary field
// values, sorted and deduplicated, and whether "*" was among them.
func varyNames(vals []string) (names []string, star bool) {
	for _, v := range vals {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if f == "*" {
				return nil, true
			}
			f = http.CanonicalHeaderKey(f)
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	slices.Sort(names)
	return names, false
}

// varyValues returns the normalised values of the request headers named in
// names, one per name, joined by "\n". Normalisation (RFC 9111 §4.1) joins
// field lines with ",", trims whitespace around list members and, for
// Accept-Encoding, reduces the value to the sorted set of known codings the
// client accepts, so "gzip, deflate, br" and "br,gzip;q=1, deflate" select
// the same variant; Accept-Language values are lowercased.
func varyValues(h http.Header, names []string) string {
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		vals := h.Values(name)
		if name == "Accept-Encoding" {
			b.WriteString(acceptEncodingBucket(vals))
			continue
		}
		first := true
		for _, v := range vals {
			for m := range strings.SplitSeq(v, ",") {
				m = strings.TrimSpace(m)
				if m == "" {
					continue
				}
				if !first {
					b.WriteByte(',')
				}
				first = false
				if name == "Accept-Language" {
					m = lowerASCII(m) // language tags are case-insensitive
				}
				b.WriteString(m)
			}
		}
	}
	return b.String()
}

// acceptEncodingBucket returns the sorted, comma-joined known codings that
// vals accept with a non-zero quality ("" for none, i.e. identity).
func acceptEncodingBucket(vals []string) string {
	knownCodings := [...]string{"br", "deflate", "gzip", "zstd"}
	var accepted [len(knownCodings)]bool
	found := false
	for _, v := range vals {
		for m := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(m, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if q, ok := strings.CutPrefix(strings.ReplaceAll(strings.ToLower(params), " ", ""), "q="); ok && strings.Trim(q, "0.") == "" {
				continue // q=0: explicitly not acceptable
			}
			if coding == "x-gzip" {
				coding = "gzip"
			}
			for i, k := range knownCodings {
				if coding == k || coding == "*" {
					accepted[i] = true
					found = true
				}
			}
		}
	}
	if !found {
		return ""
	}
	var b strings.Builder
	for i, ok := range accepted {
		if ok {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(knownCodings[i])
		}
	}
	return b.String()
}
