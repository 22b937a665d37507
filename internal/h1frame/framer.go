// Package h1frame follows the framing of HTTP/1 responses from their bytes,
// so that a reader of a connection knows where each response ends before
// anything else reads it.
package h1frame

import (
	"bytes"
	"errors"
	"strconv"
)

// Framer states.
const (
	frIdle = iota
	frHeader
	frBody
	frChunkSize
	frChunkData
	frChunkCRLF
	frTrailer
)

// ErrFraming is returned by Framer.Feed for a response whose framing
// net/http would not accept either.
var ErrFraming = errors.New("h1frame: unparsable response framing")

// maxFramerLine bounds a status, header, chunk-size or trailer line (LF
// excluded), as net/http's Transport bounds a response header to 1 MiB.
const maxFramerLine = 1 << 20

// Framer follows the framing of one HTTP/1 response from its bytes, with
// net/http's rules: 1xx interim responses, no body for HEAD, 1xx, 204 and
// 304, Transfer-Encoding (only "chunked", only on HTTP/1.1) over
// Content-Length. A response whose end is the connection's end (no
// length) or a 101 is opaque: its end cannot be known from its bytes.
//
// The zero Framer is idle; Start begins a response. A Framer is not safe
// for concurrent use. Feeding it allocates only while a line (status line,
// header, chunk size) spans reads, to hold the partial line.
type Framer struct {
	state     int
	method    string
	line      []byte // partial line
	status    int
	http10    bool
	cl        int64 // Content-Length, -1 if none
	nCL       int
	te        int // Transfer-Encoding headers seen
	chunked   bool
	lastName  string
	remaining int64
	done      bool // a final response was fully read
	opaque    bool // the response has no knowable end
}

// Idle reports whether f follows no response: it is new or was Reset.
func (f *Framer) Idle() bool { return f.state == frIdle }

// Done reports whether a final (non-1xx) response was read to its end,
// or to the end of its header when it is Opaque.
func (f *Framer) Done() bool { return f.done }

// Opaque reports whether the response's end cannot be known from its
// bytes: it is delimited by the connection's end, or is a 101 after which
// the connection carries another protocol.
func (f *Framer) Opaque() bool { return f.opaque }

// Status returns the status code of the response being read (the final
// one once Done), or 0 before its status line.
func (f *Framer) Status() int { return f.status }

// Start begins following the response to a request with method (HEAD
// responses have no body).
func (f *Framer) Start(method string) {
	*f = Framer{state: frHeader, method: method, line: f.line[:0], cl: -1}
}

// Reset makes f idle, keeping its line buffer for the next response.
func (f *Framer) Reset() {
	*f = Framer{line: f.line[:0]}
}

// Feed consumes bytes of the response from b and returns how many it
// used: fewer than len(b) only when the response ended (Done) or is
// Opaque. It returns ErrFraming for framing net/http would not accept, and
// for a line longer than 1 MiB.
func (f *Framer) Feed(b []byte) (int, error) {
	used := 0
	for used < len(b) && !f.done {
		switch f.state {
		case frBody, frChunkData:
			k := int(min(int64(len(b)-used), f.remaining))
			used += k
			f.remaining -= k64(k)
			if f.remaining == 0 {
				if f.state == frBody {
					f.done = true
				} else {
					f.state = frChunkCRLF
				}
			}
		default:
			i := bytes.IndexByte(b[used:], '\n')
			if i < 0 {
				f.line = append(f.line, b[used:]...)
				if len(f.line) > maxFramerLine {
					return used, ErrFraming
				}
				return len(b), nil
			}
			f.line = append(f.line, b[used:used+i+1]...)
			if len(f.line)-1 > maxFramerLine {
				// The same limit as for a line that spans reads.
				return used, ErrFraming
			}
			used += i + 1
			if err := f.lineDone(); err != nil {
				return used, err
			}
			f.line = f.line[:0]
			if f.opaque {
				return used, nil
			}
		}
	}
	return used, nil
}

func k64(k int) int64 { return int64(k) }

// lineDone handles the complete line in f.line (with its LF).
func (f *Framer) lineDone() error {
	l := f.line
	switch f.state {
	case frChunkCRLF:
		if string(l) != "\r\n" {
			return ErrFraming
		}
		f.state = frChunkSize
		return nil
	case frChunkSize:
		if len(l) < 2 || l[len(l)-2] != '\r' || bytes.IndexByte(l[:len(l)-2], '\r') >= 0 {
			return ErrFraming
		}
		l = bytes.TrimRight(l[:len(l)-2], " \t")
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = bytes.TrimRight(l[:i], " \t")
		}
		n, err := strconv.ParseUint(string(l), 16, 63)
		if err != nil || len(l) == 0 || len(l) > 16 {
			return ErrFraming
		}
		if n == 0 {
			f.state = frTrailer
		} else {
			f.state, f.remaining = frChunkData, int64(n)
		}
		return nil
	}
	l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
	if f.state == frTrailer {
		if len(l) == 0 {
			f.done = true
		}
		return nil
	}
	// frHeader
	if f.status == 0 {
		return f.statusLine(l)
	}
	if len(l) > 0 {
		return f.headerLine(l)
	}
	return f.headersDone()
}

func (f *Framer) statusLine(l []byte) error {
	proto, rest, ok := bytes.Cut(l, []byte(" "))
	if !ok || len(rest) < 3 || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return ErrFraming
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 100 || code > 999 {
		return ErrFraming
	}
	f.status = code
	f.http10 = string(proto) == "HTTP/1.0"
	return nil
}

func (f *Framer) headerLine(l []byte) error {
	if l[0] == ' ' || l[0] == '\t' {
		if f.lastName == "content-length" || f.lastName == "transfer-encoding" {
			return ErrFraming // folded framing header: too clever by half
		}
		return nil
	}
	name, val, ok := bytes.Cut(l, []byte(":"))
	if !ok {
		return ErrFraming
	}
	f.lastName = ""
	switch {
	case len(name) == len("content-length") && bytes.EqualFold(name, []byte("content-length")):
		f.lastName = "content-length"
		n, err := strconv.ParseUint(string(bytes.Trim(val, " \t")), 10, 63)
		if err != nil {
			return ErrFraming
		}
		if f.nCL > 0 && f.cl != int64(n) {
			return ErrFraming
		}
		f.cl, f.nCL = int64(n), f.nCL+1
	case len(name) == len("transfer-encoding") && bytes.EqualFold(name, []byte("transfer-encoding")):
		f.lastName = "transfer-encoding"
		f.te++
		f.chunked = bytes.EqualFold(bytes.Trim(val, " \t"), []byte("chunked"))
	}
	return nil
}

func (f *Framer) headersDone() error {
	switch {
	case f.status == 101:
		f.done, f.opaque = true, true
		return nil
	case f.status < 200:
		// Interim response: the final one follows.
		*f = Framer{state: frHeader, method: f.method, line: f.line, cl: -1}
		return nil
	case f.method == "HEAD" || f.status == 204 || f.status == 304:
		f.done = true
		return nil
	}
	if f.te > 0 && !f.http10 {
		if f.te != 1 || !f.chunked {
			return ErrFraming // net/http rejects it too
		}
		f.state = frChunkSize
		return nil
	}
	if f.cl < 0 {
		f.done, f.opaque = true, true // delimited by the connection's end
		return nil
	}
	if f.cl == 0 {
		f.done = true
		return nil
	}
	f.state, f.remaining = frBody, f.cl
	return nil
}
