package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"github.com/gatekit/gatekit/internal/h1head"
)

// readResponse reads a response to req from br as http.ReadResponse does,
// and returns what it would return. A response head that is whole in
// br's buffer and of the plain shape nearly every target sends (HTTP/1.0
// or 1.1, a final status, a single valid Content-Length or a 204/304, no
// Transfer-Encoding, every line ending in CRLF, no folded lines, not an
// answer to HEAD) is parsed straight from the buffer: the head becomes one
// string that the status, field names and values are cut from, instead of
// a string per line and value. Any other head, and one that is not
// buffered whole yet, is left to http.ReadResponse, whose answer for the
// plain shape is the same (the differential tests and fuzz target check
// that).
//
// A response parsed here is dst.resp, its body (when it has one)
// dst.body.
func readResponse(br *bufio.Reader, req *http.Request, dst *plainResponse) (*http.Response, error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			// What http.ReadResponse returns when its first read fails.
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	n := parsePlainResponse(buf, req, br, dst)
	if n == 0 {
		return http.ReadResponse(br, req)
	}
	br.Discard(n)
	return &dst.resp, nil
}

// plainResponse is the storage of a response readResponse parses itself:
// the response and its body, in one allocation.
type plainResponse struct {
	resp http.Response
	body lengthBody
}

// parsePlainResponse parses the response head at the start of buf into
// dst when it has the plain shape readResponse describes (its body reading
// from br), and returns the head's length; otherwise it returns 0 and
// leaves http.ReadResponse to read the head.
func parsePlainResponse(buf []byte, req *http.Request, br *bufio.Reader, dst *plainResponse) int {
	if req != nil && req.Method == http.MethodHead {
		return 0 // the length a HEAD response declares is kept apart
	}
	// The status line: HTTP/1.x, one space, a final three-digit code, then
	// the end of the line or a space and the reason.
	lineEnd := bytes.IndexByte(buf, '\n')
	if lineEnd < 1 || buf[lineEnd-1] != '\r' {
		return 0
	}
	line := buf[:lineEnd-1]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[7] != '0' && line[7] != '1' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' {
		return 0
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		return 0 // interim responses, and 101, are rare: net/http reads them
	}
	fields, end, ok := h1head.Scan(buf, lineEnd+1)
	if !ok {
		return 0
	}

	s := string(buf[:end]) // the one copy: everything below is cut from it
	h, seen := h1head.Fields(s[lineEnd+1:], fields)
	if seen&h1head.SeenTransferEncoding != 0 {
		return 0 // chunked, or an error
	}
	n, ok := h1head.ContentLength(h)
	if !ok || n < 0 && code != http.StatusNoContent && code != http.StatusNotModified {
		return 0 // refused or rewritten, or delimited by the connection's close
	}
	resp := &dst.resp
	*resp = http.Response{
		Status:     s[9 : lineEnd-1],
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Request:    req,
	}
	if line[7] == '0' {
		resp.Proto, resp.ProtoMinor = "HTTP/1.0", 0
	}
	resp.Close = h1head.Finish(h, seen, resp.ProtoMinor)
	if resp.Close && resp.ProtoMinor == 1 {
		delete(h, "Connection") // as http.ReadResponse does
	}
	if n > 0 && code != http.StatusNoContent && code != http.StatusNotModified {
		dst.body = lengthBody{br: br, n: n}
		resp.Body = &dst.body
		resp.ContentLength = n
	}
	return end + 2
}

// lengthBody is a response body of n more bytes from br. It reads as
// net/http's body does: an end of stream before n bytes is
// io.ErrUnexpectedEOF, and the read that brings the last byte returns
// io.EOF with it (so the connection is released without another Read).
// Unlike net/http's body, Close does not read what is left: the pool's
// h1Body, its only user, closes the connection of a body closed before
// its end, and never reuses it.
type lengthBody struct {
	br     *bufio.Reader
	n      int64
	eof    bool
	closed bool
}

// Read reads what is left of the body, as lengthBody says.
func (b *lengthBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof || b.n <= 0 {
		b.eof = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	switch {
	case err == io.EOF:
		b.eof = true
		if b.n > 0 {
			err = io.ErrUnexpectedEOF
		}
	case err == nil && k > 0 && b.n == 0:
		b.eof = true
		err = io.EOF
	}
	return k, err
}

// Close ends the body; later reads fail with http.ErrBodyReadAfterClose,
// and what is left of it stays unread.
func (b *lengthBody) Close() error {
	b.closed = true
	return nil
}
