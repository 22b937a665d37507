package gatekit

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatekit/gatekit/internal/h1head"
	"github.com/gatekit/gatekit/internal/header"
)

// readHTTP1Request reads a request head from br as http.ReadRequest does
// and returns what it would return, with ctx as its context (and, for a
// chunked body, a Trailer map that the body fills). A head that is whole
// in br's buffer and of the plain shape nearly every client sends (a token
// method, a target in origin form, HTTP/1.0 or 1.1, plain field lines
// ended by CRLF, one Host field at most, and no body: no Transfer-Encoding
// and no Content-Length but 0) is parsed straight from the buffer: the
// head becomes one string that the method, target, field names and values
// are cut from, instead of a string per line and value. Any other head,
// and one not buffered whole yet, is left to http.ReadRequest, whose
// answer for the plain shape is the same (the differential tests and fuzz
// target check that). plain reports that the head was parsed here, so its
// field names are tokens and its values free of control bytes (the checks
// net/http's server makes after http.ReadRequest).
func readHTTP1Request(ctx context.Context, br *bufio.Reader) (req *http.Request, plain bool, err error) {
	if br.Buffered() > 0 {
		buf, _ := br.Peek(br.Buffered())
		if r, n := parsePlainRequest(buf); n > 0 {
			_, _ = br.Discard(n)
			return r.WithContext(ctx), true, nil // the only copy on the heap
		}
	}
	req, err = http.ReadRequest(br)
	if err != nil {
		return nil, false, err
	}
	if req.Trailer == nil && len(req.TransferEncoding) > 0 {
		// The body stores the trailers it reads in this Request, which
		// WithContext copies: a map shared by both is where the handler
		// finds them.
		req.Trailer = make(http.Header)
	}
	return req.WithContext(ctx), false, nil
}

// parsePlainRequest parses the request head at the start of buf when it
// has the plain shape readHTTP1Request describes, and returns the request
// (by value: the caller gives it its context, which copies it) and the
// head's length; otherwise it returns a length of 0 and leaves
// http.ReadRequest to read the head.
func parsePlainRequest(buf []byte) (http.Request, int) {
	lineEnd := bytes.IndexByte(buf, '\n')
	if lineEnd < 1 || buf[lineEnd-1] != '\r' {
		return http.Request{}, 0
	}
	// The request line: method SP target SP version, cut at the first two
	// spaces as net/http cuts it.
	line := buf[:lineEnd-1]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 1 {
		return http.Request{}, 0
	}
	for _, c := range line[:sp1] {
		if !header.IsTokenChar(c) {
			return http.Request{}, 0
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 1 || rest[0] != '/' {
		return http.Request{}, 0 // asterisk, authority and absolute forms go to net/http
	}
	minor := 1
	switch string(rest[sp2+1:]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		minor = 0
	default:
		return http.Request{}, 0
	}
	fields, end, ok := h1head.Scan(buf, lineEnd+1)
	if !ok {
		return http.Request{}, 0
	}

	s := string(buf[:end]) // the one copy: everything below is cut from it
	target := s[sp1+1 : sp1+1+sp2]
	u, ok := originForm(target)
	if !ok {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return http.Request{}, 0
		}
	}
	h, host, seen := h1head.RequestFields(s[lineEnd+1:], fields)
	if seen&h1head.SeenTransferEncoding != 0 || len(host) > 1 {
		return http.Request{}, 0
	}
	if seen&h1head.SeenContentLength != 0 {
		if n, ok := h1head.ContentLength(h); !ok || n > 0 {
			return http.Request{}, 0 // a body, or a length net/http refuses or rewrites
		}
	}
	req := http.Request{
		Method:     s[:sp1],
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: minor,
		Header:     h,
		Body:       http.NoBody,
		Host:       u.Host,
		RequestURI: target,
	}
	if minor == 0 {
		req.Proto = "HTTP/1.0"
	}
	if req.Host == "" && len(host) > 0 {
		req.Host = host[0] // http.ReadRequest moves the field to Host
	}
	req.Close = h1head.Finish(h, seen, minor)
	return req, end + 2
}

// originForm returns the URL url.ParseRequestURI makes of an origin-form
// target ("/path", "/path?query") whose path has only bytes that stand
// for themselves (so there is nothing to unescape and no RawPath) and
// whose query has only visible ASCII other than '#'; for any other target
// it reports false, and the caller asks ParseRequestURI.
func originForm(target string) (*url.URL, bool) {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' {
		return nil, false
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return nil, false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return nil, false
		}
	}
	return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}, true
}

// plainPathByte marks the bytes a URL path keeps as they are: unreserved
// characters and the delimiters url's path escaping leaves alone.
var plainPathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~/$&+,:;=@" {
		t[c] = true
	}
	return t
}()
