package gatekit

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/gatekit/gatekit/internal/problem"
)

// netHTTPErrorHeaders is what net/http writes between the status line and
// the body of the error responses it sends itself, without a handler, when
// it cannot read a request (malformed request line or header, headers over
// its limit, an unsupported transfer coding or version).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Write passes p to the connection, except that one of net/http's own
// text/plain error responses is rewritten as the problem+json response
// every gatekit component sends, with the same status and net/http's fixed
// reason as detail. net/http writes those in one call straight to the
// connection and without a Date header, and only when no response is being
// written (a response body may hold the same bytes, and rewriting it would
// change its length), so they cannot be confused with a handler's.
func (c *serverConn) Write(p []byte) (int, error) {
	if c.clearHeld.Load() {
		// A write outside the response writer's (net/http's own, between
		// requests) has no deadline, as net/http asked.
		c.releaseClear()
	}
	if len(p) > 12 && p[9] >= '4' && p[9] <= '5' && bytes.HasPrefix(p, []byte("HTTP/1.1 ")) && c.served.Load() == c.finished.Load() {
		if out, ok := problemForNetHTTPError(p); ok {
			if _, err := c.Conn.Write(out); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// problemForNetHTTPError returns the problem+json response for p if p is a
// whole net/http error response.
func problemForNetHTTPError(p []byte) ([]byte, bool) {
	statusLine, rest, ok := bytes.Cut(p[len("HTTP/1.1 "):], []byte(netHTTPErrorHeaders[:2]))
	if !ok || !bytes.HasPrefix(rest, []byte(netHTTPErrorHeaders[2:])) {
		return nil, false
	}
	body := rest[len(netHTTPErrorHeaders)-2:]
	if bytes.ContainsAny(body, "\r\n") || len(statusLine) < 3 {
		return nil, false
	}
	code, err := strconv.Atoi(string(statusLine[:3]))
	if err != nil || code < 400 || code > 599 || http.StatusText(code) == "" {
		return nil, false
	}
	// The body is "<code> <text>" or "<code> <text>: <reason>" or, for 501,
	// a sentence; the reason is net/http's fixed text, never client input.
	detail := string(body)
	if _, reason, ok := bytes.Cut(body, []byte(": ")); ok {
		detail = string(reason)
	} else if bytes.HasPrefix(body, statusLine[:3]) {
		detail = ""
	}
	return problemResponse(code, detail), true
}

// problemResponse is a whole problem+json response with status code and
// detail that closes the connection.
func problemResponse(code int, detail string) []byte {
	js, err := problem.Details{Status: code, Detail: detail}.MarshalJSON()
	if err != nil {
		js = []byte("{}")
	}
	js = append(js, '\n')
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	b.WriteString("Content-Type: " + problem.ContentType + "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(js)) + "\r\n\r\n")
	b.Write(js)
	return b.Bytes()
}
