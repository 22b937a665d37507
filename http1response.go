package gatekit

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gatekit/gatekit/internal/header"
)

// holdBody is how much of a response body without a declared length is
// held before its head is written: a response that ends within it gets a
// Content-Length, a longer one is chunked (net/http's server holds as much).
const holdBody = 2048

// http1Response is the http.ResponseWriter of an http1Server request. Like
// net/http's it holds back the head until the body exceeds holdBody, the
// handler flushes or returns, so that a short body gets a Content-Length;
// a head whose Content-Length is declared (and Content-Type set) is
// written at WriteHeader. The header fields are serialised at WriteHeader
// (into the connection's head buffer), so that later changes of the
// header map are not sent, as with net/http, without copying the map.
type http1Response struct {
	c      *http1Conn
	req    *http.Request
	body   *http1Body // nil for a request without a body
	header http.Header

	status      int
	wroteHeader bool // the handler's status is set
	committed   bool // the head is in the connection's writer
	hijacked    bool
	chunked     bool
	closeAfter  bool  // the connection closes after this response
	bodyLeft    bool  // the request body was not read to its end
	finished    bool  // the handler has returned: writes are refused, a held body gets a length
	declared    int64 // the declared Content-Length, -1 if none
	written     int64

	// What WriteHeader found in the header, for the framing chosen when
	// the head is written.
	te                    string   // Transfer-Encoding
	connection            []string // Connection
	trailers              []string // declared trailer fields
	prefixed              bool     // a TrailerPrefix field was set before WriteHeader
	typed, dated, encoded bool     // Content-Type, Date, Content-Encoding set

	// mu guards the state above and the connection's writer against the
	// body's reader sending 100 Continue (the body may be read on another
	// goroutine) and against a goroutine the handler left behind. It is
	// never held while the request body is read.
	mu           sync.Mutex
	continueSent bool

	// prepared and extra are the fields WritePrepared wrote without
	// putting them in the header map; prepared is nil again once Header
	// has put them there (atomic: Header may be called on any goroutine).
	prepared atomic.Pointer[header.Prepared]
	extra    [2]string

	// ctx is the request's context, made with the response in one
	// allocation.
	ctx requestContext

	// wrapper is the storage of the Server's responseWriter around this
	// response (see serverHandler), made with it in one allocation.
	wrapper responseWriter
}

// Header returns the response header map.
func (w *http1Response) Header() http.Header {
	if w.prepared.Load() != nil {
		w.merge()
	}
	return w.header
}

// merge puts the fields WritePrepared wrote into the header map, for a
// handler (or an outer one) that looks at the header after the response.
func (w *http1Response) merge() {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.prepared.Load()
	if p == nil {
		return
	}
	for k, vv := range p.Header {
		w.header[k] = vv
	}
	for _, line := range w.extra {
		if name, v, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ": "); ok {
			w.header[name] = append(w.header[name], v)
		}
	}
	w.prepared.Store(nil)
}

// WritePrepared writes a response head with the prepared fields p and the
// extra field lines after those of the header map, then body
// (header.PreparedWriter): a cache hit sent without copying its stored
// header into the map and writing it from there.
func (w *http1Response) WritePrepared(code int, p *header.Prepared, extra [2]string, body []byte) (int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished || w.hijacked || w.wroteHeader || code < 200 || code > 599 || !bodyAllowed(code) {
		return 0, false
	}
	w.extra = extra
	w.prepared.Store(p)
	w.writeHead(code, p, extra)
	n, _ := w.write(body)
	return n, true
}

// AdoptHeader makes h the response header map when the one it has is
// empty and the head has not been written (header.Adopter).
func (w *http1Response) AdoptHeader(h http.Header) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wroteHeader || w.finished || len(w.header) != 0 {
		return false
	}
	w.header = h
	return true
}

// WriteHeader sends (or holds back) the response head with status code; a
// 1xx code other than 101 is sent at once as an interim response.
func (w *http1Response) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	w.writeHeader(code)
}

// writeHeader is WriteHeader with w.mu held.
func (w *http1Response) writeHeader(code int) { w.writeHead(code, nil, [2]string{}) }

// writeHead writes (or holds back) the head: the status line, the fields
// of the header map, and those of p and extra when p is not nil
// (WritePrepared).
func (w *http1Response) writeHead(code int, p *header.Prepared, extra [2]string) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader, w.status = true, code
	is11 := w.req.ProtoAtLeast(1, 1)
	head := appendStatusLine(w.c.head[:0], is11, code)
	// One pass over the header: the fields that frame or describe the
	// response are noted on the way (a lookup of each would hash its name,
	// which costs about as much as a step of this loop), the rest written.
	var cl []string
	teSet := false
	for k, vv := range w.header {
		switch k {
		case "Content-Length":
			cl = vv
			continue
		case "Transfer-Encoding":
			if len(vv) > 0 {
				w.te, teSet = vv[0], true
			}
			continue
		case "Connection":
			w.connection = vv
			continue
		case "Trailer":
			w.noteTrailers(vv)
			if is11 {
				continue // written with the framing
			}
		case "Content-Type":
			w.typed = true
			if code == http.StatusNotModified {
				continue // a 304 describes a representation it does not carry
			}
		case "Date":
			w.dated = true
		case "Content-Encoding":
			w.encoded = len(vv) > 0
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			w.prefixed = true
			continue
		}
		head = header.AppendField(head, k, vv)
	}
	if p != nil {
		head = append(head, p.Lines...)
		head = append(head, extra[0]...)
		head = append(head, extra[1]...)
		w.typed, w.dated, w.encoded = w.typed || p.Typed, w.dated || p.Dated, w.encoded || p.Encoded
		if len(cl) == 0 && p.Length >= 0 {
			w.declared = p.Length
		}
	}
	if len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 && len(cl) == 1 {
			w.declared = n
		} else {
			w.c.s.logf("http: invalid Content-Length of %q", cl)
		}
	}
	if teSet && w.te != "identity" {
		w.declared = -1 // chunked wins over a Content-Length, as in net/http
	}
	w.c.head = head
	if !bodyAllowed(code) || w.declared >= 0 && w.typed && w.req.Method != http.MethodHead {
		w.commit(nil)
	}
}

// noteTrailers records the trailer fields the Trailer field values t
// announce. Fields a hop must not take from trailers (framing, routing,
// authentication) are never sent as ones.
func (w *http1Response) noteTrailers(t []string) {
	for _, v := range t {
		for f := range strings.SplitSeq(v, ",") {
			if f = http.CanonicalHeaderKey(strings.TrimSpace(f)); f != "" && httpguts.ValidTrailerHeader(f) {
				w.trailers = append(w.trailers, f)
			}
		}
	}
}

// writeInterim sends a 1xx response with the current header.
func (w *http1Response) writeInterim(code int) {
	if code == http.StatusContinue {
		w.continueSent = true
	}
	b := appendStatusLine(w.c.head[:0], w.req.ProtoAtLeast(1, 1), code)
	for k, vv := range w.header {
		if k != "Content-Length" && k != "Transfer-Encoding" {
			b = header.AppendField(b, k, vv)
		}
	}
	b = append(b, "\r\n"...)
	_, _ = w.c.bw.Write(b)
	_ = w.c.bw.Flush()
	w.c.keepHead(b)
}

// writeContinue sends 100 Continue before the first read of a body whose
// client waits for it, unless a response has been sent already.
func (w *http1Response) writeContinue() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wroteHeader || w.committed || w.continueSent || w.hijacked || w.finished {
		return nil
	}
	w.continueSent = true
	if _, err := w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		return err
	}
	return w.c.bw.Flush()
}

// Write writes p as (part of) the response body.
func (w *http1Response) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.finished {
		return 0, errAfterHandler
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	return w.write(p)
}

// write is Write once the head is written, with w.mu held.
func (w *http1Response) write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.c.buf)+len(p) <= holdBody {
			w.c.buf = append(w.c.buf, p...)
			return len(p), nil
		}
		w.commit(p)
		return len(p), nil
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBody writes p to the connection's writer in the response's framing.
func (w *http1Response) writeBody(p []byte) error {
	if len(p) == 0 || w.req.Method == http.MethodHead {
		return nil
	}
	bw := w.c.bw
	if w.chunked {
		writeHex(bw, len(p))
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// commit writes the head, chooses the framing, and then the held body and
// more (which may be nil).
func (w *http1Response) commit(more []byte) {
	w.committed = true
	held := w.c.buf
	is11 := w.req.ProtoAtLeast(1, 1)
	isHead := w.req.Method == http.MethodHead
	allowed := bodyAllowed(w.status)
	// Trailers, even where they cannot be sent (HTTP/1.0), keep a
	// Content-Length from being added, as in net/http.
	if w.declared < 0 && w.te == "" && len(w.trailers) == 0 && !w.prefixed && w.finished && allowed && (!isHead || len(held) > 0) {
		w.declared = int64(len(held))
	}
	b := w.c.head
	switch {
	case !allowed:
	case w.declared >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, w.declared, 10)
		b = append(b, "\r\n"...)
	case isHead:
	case w.te == "identity" || !is11:
		w.closeAfter = true
	default:
		w.chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		if len(w.trailers) > 0 {
			b = header.AppendField(b, "Trailer", []string{strings.Join(w.trailers, ", ")})
		}
	}
	if !w.typed && allowed && w.te == "" && !w.encoded && len(held)+len(more) > 0 {
		sniff := held
		if len(sniff) == 0 {
			sniff = more
		}
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(sniff)...)
		b = append(b, "\r\n"...)
	}
	if !w.dated {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	w.decideClose()
	keepAlive10 := !is11 && !w.closeAfter && netHTTPToken(w.req.Header.Get("Connection"), "keep-alive")
	if !is11 && !keepAlive10 {
		w.closeAfter = true
	}
	// The Connection field, as net/http's server writes it: the
	// handler's, unless the connection closes and it does not say so.
	switch {
	case w.status == http.StatusSwitchingProtocols:
		// A protocol switch keeps its Connection: Upgrade (the handler
		// hijacks the connection next).
		b = header.AppendField(b, "Connection", w.connection)
	case w.closeAfter:
		if header.HasToken(w.connection, "close") && w.c.s.keepAlive() {
			b = header.AppendField(b, "Connection", w.connection)
		} else if is11 {
			b = append(b, "Connection: close\r\n"...)
		}
	case keepAlive10 && len(w.connection) == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	default:
		b = header.AppendField(b, "Connection", w.connection)
	}
	b = append(b, "\r\n"...)
	_, _ = w.c.bw.Write(b)
	w.c.keepHead(b)
	if allowed {
		_ = w.writeBody(held)
		_ = w.writeBody(more)
	}
	w.c.buf = held[:0]
}

// Flush sends what is written so far to the client.
func (w *http1Response) Flush() { _ = w.FlushError() }

// FlushError sends what is written so far to the client and returns the
// connection's error, for http.ResponseController.
func (w *http1Response) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.finished {
		return errAfterHandler
	}
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(nil)
	}
	return w.c.bw.Flush()
}

// decideClose sets closeAfter for what is known before the head is
// written: a client or handler that asked for it, a server that stops
// keeping connections.
func (w *http1Response) decideClose() {
	if !w.c.s.keepAlive() || header.HasToken(w.connection, "close") {
		w.closeAfter = true
	}
	// An HTTP/1.0 request's Close is decided with the framing (commit):
	// "keep-alive" keeps the connection when the length is known.
	if w.req.ProtoAtLeast(1, 1) && (w.req.Close || netHTTPToken(w.req.Header.Get("Connection"), "close")) {
		w.closeAfter = true
	}
}

// finish completes the response after the handler has returned: the rest
// of the request body, the head if held back, the last chunk and trailers.
// From its start, writes of a goroutine the handler left behind are
// refused.
func (w *http1Response) finish() {
	w.mu.Lock()
	w.finished = true
	if !w.wroteHeader {
		w.writeHeader(http.StatusOK)
	}
	if !w.committed {
		w.decideClose()
	}
	closing := w.closeAfter
	w.mu.Unlock()
	// The rest of the request body: read (up to maxPostHandlerRead) to
	// keep the connection, unless it closes anyway; then the client may
	// still be sending it, and the connection lingers before it closes.
	if w.body != nil && (closing || !w.body.drain()) && !w.body.ended() {
		w.mu.Lock()
		w.closeAfter, w.bodyLeft = true, true
		w.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.committed {
		w.commit(nil)
	}
	bw := w.c.bw
	if w.chunked {
		b := append(w.c.head[:0], "0\r\n"...)
		for _, k := range w.trailers {
			b = header.AppendField(b, k, w.header[k])
		}
		for k, vv := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(name) {
				b = header.AppendField(b, name, vv)
			}
		}
		b = append(b, "\r\n"...)
		_, _ = bw.Write(b)
		w.c.keepHead(b)
	}
	if w.declared >= 0 && w.written != w.declared && bodyAllowed(w.status) && w.req.Method != http.MethodHead {
		w.closeAfter = true // the client cannot frame what follows
	}
	if bw.Flush() != nil {
		w.closeAfter = true
	}
}

// errAfterHandler is returned to writes made after the handler returned
// (by a goroutine it left behind), which must not reach the connection:
// it may be serving the next request.
var errAfterHandler = errors.New("http: response written after the handler returned")

// Hijack hands the connection to the handler, with the buffered reader
// (which may hold bytes the client sent after the request) and writer. A
// head written by WriteHeader is sent first. A goroutine the handler left
// behind gets http.ErrHijacked and leaves the connection's next request
// alone.
func (w *http1Response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.mu.Lock()
	if w.hijacked || w.finished {
		w.mu.Unlock()
		return nil, nil, http.ErrHijacked
	}
	w.mu.Unlock()
	c := w.c
	c.endWatch() // without w.mu: the watch's end may wait for its read
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hijacked || w.finished {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader && !w.committed {
		w.commit(nil)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	c.state.Store(h1Hijacked)
	c.s.forget(c) // shutdown neither waits for nor closes a hijacked connection
	c.idleArmed.Store(0)
	_ = c.rwc.SetDeadline(time.Time{})
	c.s.connState(c, http.StateHijacked)
	return c.rwc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline sets the connection's read deadline, for
// http.ResponseController.
func (w *http1Response) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline, for
// http.ResponseController.
func (w *http1Response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex lets the handler read the request body while writing
// the response, which this server always allows.
func (w *http1Response) EnableFullDuplex() error { return nil }

// bodyAllowed reports whether a response with status code may have a body.
func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// maxKeptHead is the largest head buffer a connection keeps for its next
// response.
const maxKeptHead = 16 << 10

// netHTTPToken reports whether token appears in v, ASCII case-insensitive,
// between space, tab or comma boundaries: how net/http's server reads the
// Connection of an HTTP/1.0 request and the Expect field (looser than a
// list of tokens: "keep-alive 0" has it).
func netHTTPToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isTokenBoundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isTokenBoundary(v[end]) {
			continue
		}
		if header.EqualFoldASCII(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isTokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// keepHead keeps b's array for the connection's next head, unless it grew
// past maxKeptHead.
func (c *http1Conn) keepHead(b []byte) {
	if cap(b) > maxKeptHead {
		c.head = nil
		return
	}
	c.head = b[:0]
}

// appendStatusLine appends "HTTP/1.x code text" and CRLF.
func appendStatusLine(b []byte, is11 bool, code int) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// writeHex writes n in hexadecimal.
func writeHex(bw *bufio.Writer, n int) {
	shift := 0
	for n>>shift >= 16 {
		shift += 4
	}
	for ; shift >= 0; shift -= 4 {
		_ = bw.WriteByte("0123456789abcdef"[n>>shift&15])
	}
}

// dateCache holds the Date value of the current second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec   int64
	value string
}

// httpDate returns the current time as an HTTP Date value, formatted once
// per second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.value
	}
	d := &cachedDate{sec: sec, value: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.value
}
