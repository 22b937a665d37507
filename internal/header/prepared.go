package header

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// AppendField appends one field line ("Name: value" and CR LF) per value
// of a response header field; a name that is not a token is left out, and
// CR and LF in values become spaces, as net/http writes them, so that no
// value can end the head early.
func AppendField(b []byte, name string, values []string) []byte {
	if !httpguts.ValidHeaderFieldName(name) {
		return b
	}
	for _, v := range values {
		b = append(b, name...)
		b = append(b, ": "...)
		v = textproto.TrimString(v) // ASCII white space only, as net/http
		// Two byte searches: IndexAny would build its byte set each call.
		if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
			b = append(b, v...)
		} else {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c == '\r' || c == '\n' {
					b = append(b, ' ')
				} else {
					b = append(b, c)
				}
			}
		}
		b = append(b, "\r\n"...)
	}
	return b
}

// Prepared is a response header serialised once for the many responses
// that send it (a cache's stored response), with what a response writer
// needs to know of it to frame the response. It is immutable.
type Prepared struct {
	// Header is the header Lines were made from; it is shared and never
	// modified.
	Header http.Header
	// Lines are Header's fields as AppendField writes them, except
	// Content-Length.
	Lines []byte
	// Length is Header's Content-Length, or -1 when it has none (or one
	// that is not a single non-negative number, which Lines then leave
	// out as well).
	Length int64
	// Typed, Dated and Encoded report whether Header has a Content-Type, a
	// Date and a non-empty Content-Encoding.
	Typed, Dated, Encoded bool
}

// Prepare serialises h, or returns nil when h has a field that frames a
// response (Transfer-Encoding, Connection, Trailer or a trailer-prefixed
// name), which a writer must see in its header map.
func Prepare(h http.Header) *Prepared {
	p := &Prepared{Header: h, Length: -1}
	for k, vv := range h {
		switch k {
		case "Transfer-Encoding", "Connection", "Trailer":
			return nil
		case "Content-Length":
			if len(vv) == 1 {
				if n, err := strconv.ParseInt(vv[0], 10, 64); err == nil && n >= 0 {
					p.Length = n
				}
			}
			continue
		case "Content-Type":
			p.Typed = true
		case "Date":
			p.Dated = true
		case "Content-Encoding":
			p.Encoded = len(vv) > 0
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return nil
		}
		p.Lines = AppendField(p.Lines, k, vv)
	}
	return p
}

// Line returns the field line AppendField writes for one value.
func Line(name, value string) string {
	return string(AppendField(nil, name, []string{value}))
}

// A PreparedWriter is a ResponseWriter that writes a prepared header
// without copying it into its header map: the Server's own HTTP/1 loop.
type PreparedWriter interface {
	// WritePrepared writes the head of a response with status code (2xx to
	// 5xx, not 204 or 304): the fields of the writer's header map, which
	// must share no name with p.Header or the extra lines, then p.Lines
	// and the extra field lines (each as Line makes it, or empty); then
	// body, as Write would. A later call of Header returns the map with
	// p.Header's and the extra fields in it. It reports whether it wrote
	// the head (false: nothing was done, the head has been written
	// already or the writer cannot) and how much of body it took.
	WritePrepared(code int, p *Prepared, extra [2]string, body []byte) (n int, ok bool)
}
