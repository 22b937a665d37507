package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatekit/gatekit/internal/header"
)

// errInvalidRequest is returned by writeRequest for a request that cannot
// be written safely: a header name that is not a token, a host with a
// character no host has (a space, a control character), a header value
// or target with a control character (CR and LF included, which
// would let a value start a header or request of its own), or a body
// length that does not match.
var errInvalidRequest = errors.New("proxy: invalid outbound request header")

// writeRequest writes req in HTTP/1.1 to bw as http.Request.Write does
// for the requests the synchronous pool sends (no CONNECT, no
// Transfer-Encoding, a body of known length or none), without its
// formatting through fmt and its header sorting: the request line, Host,
// User-Agent (Go's default when the header is absent; none when it is
// empty), Content-Length (also "0" for POST, PUT and PATCH, which many
// servers expect), Connection: close when req.Close, the other headers,
// and the body. Unlike Request.Write, and like http.Transport, it refuses
// header names and values net/http would not send (errInvalidRequest)
// instead of rewriting them. It does not flush bw.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	host = removeZone(host)
	path, query, hasQuery := requestTarget(req.URL)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !header.IsToken(method) || !validHost(host) || !validTarget(path) || !validQuery(query) {
		return errInvalidRequest
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody != (req.ContentLength > 0) {
		return errInvalidRequest
	}
	for name, vals := range req.Header {
		if !header.IsToken(name) {
			return errInvalidRequest
		}
		for _, v := range vals {
			if !header.ValidValue(v) {
				return errInvalidRequest
			}
		}
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if hasQuery {
		bw.WriteByte('?')
		bw.WriteString(query)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}
	switch {
	case req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		bw.WriteString("\r\n")
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if req.Close && !header.HasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	for name, vals := range req.Header {
		switch name {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vals {
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(strings.Trim(v, " \t"))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	if !hasBody {
		return nil
	}
	defer req.Body.Close()
	if _, err := io.CopyN(bw, req.Body, req.ContentLength); err != nil {
		if err == io.EOF {
			err = errInvalidRequest // the body was shorter than announced
		}
		return err
	}
	var extra [1]byte
	if n, _ := io.ReadFull(req.Body, extra[:]); n > 0 {
		return errInvalidRequest // longer than announced: never sent on
	}
	return nil
}

// requestTarget returns the two halves of u.RequestURI(), the path and
// the query, without joining them into a new string.
func requestTarget(u *url.URL) (path, query string, hasQuery bool) {
	if u.Opaque != "" {
		return u.RequestURI(), "", false // rare: let net/url spell it
	}
	path = u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return path, u.RawQuery, u.ForceQuery || u.RawQuery != ""
}

// validQuery reports whether a query can be sent in a request target: no
// space or control character.
func validQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// removeZone removes the IPv6 zone identifier from host, as
// http.Request.Write does ("[fe80::1%en0]:8080" -> "[fe80::1]:8080").
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndexByte(host, ']')
	if i < 0 {
		return host
	}
	j := strings.LastIndexByte(host[:i], '%')
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

// validHost reports whether host can be sent as a Host header: not
// empty, and only the characters of a host, an IP literal and a port (as
// net/http's Transport checks), so no space, control character or '/'.
func validHost(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '!', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', ':', ';', '=', '[', ']', '_', '~':
			continue
		}
		return false
	}
	return true
}

// validTarget reports whether uri can be sent as a request target: in
// origin form ("/...") or "*", with no space or control character.
func validTarget(uri string) bool {
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return uri == "*" || strings.HasPrefix(uri, "/")
}
