// Package h1head parses the field lines of HTTP/1 message heads of the
// plain shape nearly every peer sends, straight from a read buffer, into
// the http.Header that net/http's http.ReadRequest and http.ReadResponse
// would make of them. A head of any other shape is left to net/http: the
// callers check a head with Scan first, and fall back when it is not
// plain.
//
// A plain field line is a name of token bytes, a colon, and a value of
// visible bytes, spaces, tabs and obs-text, ended by CRLF. Folded lines,
// names with a space before the colon, lines without a colon, control
// bytes and bare LF line ends are not plain: net/http reads some of them
// in ways of its own (it joins folded lines, keeps a name with a space
// as it is) and refuses the others.
package h1head

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gatekit/gatekit/internal/header"
)

// Scan checks the field lines of buf from offset from (just after the
// start line) up to the blank line that ends the head. It reports how
// many there are and the offset of the blank line; ok is false when a
// line is not plain or the blank line is not in buf.
func Scan(buf []byte, from int) (fields, end int, ok bool) {
	end = from
	for {
		rest := buf[end:]
		i := bytes.IndexByte(rest, '\n')
		if i < 1 || rest[i-1] != '\r' {
			return 0, 0, false // not buffered whole, or a bare LF
		}
		if i == 1 {
			return fields, end, true // the blank line
		}
		if !plainLine(rest[:i-1]) {
			return 0, 0, false
		}
		fields++
		end += i + 1
	}
}

// plainLine reports whether line (without its CRLF) is a plain field line.
func plainLine(line []byte) bool {
	i := 0
	for i < len(line) && header.IsTokenChar(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return false
	}
	for _, c := range line[i+1:] {
		if !header.IsValueChar(c) {
			return false
		}
	}
	return true
}

// Seen tells which fields that change how a message is read a head has.
type Seen uint8

// The fields Seen tells of.
const (
	SeenTransferEncoding Seen = 1 << iota
	SeenPragma
	SeenConnection
	SeenHost
	SeenContentLength
)

// Fields parses the n field lines Scan counted in s (each ended by CRLF,
// s being the head's copy from just after the start line, without the
// blank line) into a header, with names in canonical form and values
// trimmed of spaces and tabs, as textproto.Reader.ReadMIMEHeader does.
// The names and values are cut from s; values of one name share one
// slice in the order they came.
func Fields(s string, n int) (http.Header, Seen) {
	h, _, seen := fields(s, n, false)
	return h, seen
}

// RequestFields is Fields for a request head, except that the values of
// Host fields are returned apart, in order, instead of in the header, as
// http.ReadRequest takes the Host field out of Request.Header. A request
// whose only field is Host (many API clients send no other) then costs no
// storage for the header's entries.
func RequestFields(s string, n int) (h http.Header, host []string, seen Seen) {
	return fields(s, n, true)
}

// fields is Fields, with Host values apart when hostApart is set.
func fields(s string, n int, hostApart bool) (h http.Header, host []string, seen Seen) {
	h = make(http.Header, n)
	vals := make([]string, n)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		kv := s[:i-1]
		s = s[i+1:]
		colon := strings.IndexByte(kv, ':')
		key := textproto.CanonicalMIMEHeaderKey(kv[:colon]) // no copy when already canonical
		v := strings.Trim(kv[colon+1:], " \t")
		switch key {
		case "Transfer-Encoding":
			seen |= SeenTransferEncoding
		case "Pragma":
			seen |= SeenPragma
		case "Connection":
			seen |= SeenConnection
		case "Host":
			seen |= SeenHost
			if hostApart {
				if host == nil {
					host, vals = vals[:1:1], vals[1:]
					host[0] = v
				} else {
					host = append(host, v)
				}
				continue
			}
		case "Content-Length":
			seen |= SeenContentLength
		}
		if vv := h[key]; vv != nil {
			h[key] = append(vv, v)
		} else {
			vv, vals = vals[:1:1], vals[1:]
			vv[0] = v
			h[key] = vv
		}
	}
	return h, host, seen
}

// Finish does to h what net/http does to every head it reads once its
// fields are parsed (FixPragma), and reports whether the HTTP/1.minor
// message ends its connection (Close). seen, from Fields, spares the
// lookups of fields the head does not have.
func Finish(h http.Header, seen Seen, minor int) (close bool) {
	if seen&SeenPragma != 0 {
		FixPragma(h)
	}
	if seen&SeenConnection == 0 {
		return minor == 0 // HTTP/1.0 without keep-alive
	}
	return Close(minor, h)
}

// FixPragma makes Pragma: no-cache count as Cache-Control: no-cache when
// there is no Cache-Control (RFC 9111 5.4), as net/http does for every
// message it reads.
func FixPragma(h http.Header) {
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// Close reports whether an HTTP/1.minor message with header h ends its
// connection, as net/http decides it: a close option, or HTTP/1.0
// without keep-alive. The options are matched as net/http matches them
// (ASCII case-insensitive tokens).
func Close(minor int, h http.Header) bool {
	conn := h["Connection"]
	hasClose := header.HasToken(conn, "close")
	if minor == 0 {
		return hasClose || !header.HasToken(conn, "keep-alive")
	}
	return hasClose
}

// ContentLength returns the length h declares, -1 when it declares none.
// ok is false for what net/http refuses or rewrites: more than one
// Content-Length field, an empty one, or one that is not a decimal number
// below 2^63.
func ContentLength(h http.Header) (n int64, ok bool) {
	cl := h["Content-Length"]
	switch {
	case len(cl) == 0:
		return -1, true
	case len(cl) > 1 || cl[0] == "":
		return 0, false
	}
	u, err := strconv.ParseUint(cl[0], 10, 63)
	if err != nil {
		return 0, false
	}
	return int64(u), true
}
