package gatekit

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/header"
)

// TestHTTP1HijackAfterWriteHeaderSendsTheHead: WriteHeader(200) then
// Hijack (a CONNECT tunnel) sends the head, as net/http's server does.
func TestHTTP1HijackAfterWriteHeaderSendsTheHead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("tunnel\n")
		_ = brw.Flush()
	})
	for _, netHTTP := range loops() {
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
		resp, _ := rawExchange(t, srv.addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(resp, "\r\n\r\ntunnel\n") {
			t.Errorf("%s: got %q, want the 200 head, then the tunnel's bytes", loopName(netHTTP), resp)
		}
	}
}

// TestHTTP1ClosingResponseDoesNotWaitForTheBody: a response that closes
// the connection anyway (Connection: close, 417) is sent without waiting
// for the request body the client holds back.
func TestHTTP1ClosingResponseDoesNotWaitForTheBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden) // without reading the body
	})
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000000\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 10\r\n\r\n",
	} {
		for _, netHTTP := range loops() {
			srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP, ReadTimeout: 30 * time.Second})
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, req)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Errorf("%s, %.60q: no response within 3 s: %v", loopName(netHTTP), req, err)
			}
			_ = c.Close()
		}
	}
}

// TestHTTP1WriteWhileFinishDrainsIsRefused: a goroutine the handler left
// behind cannot write into the connection while finish waits for the
// unread body; the stray chunk would reach the client inside the
// response.
func TestHTTP1WriteWhileFinishDrainsIsRefused(t *testing.T) {
	returned, wrote := make(chan struct{}), make(chan struct{})
	var lateErr error
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 5000)) // chunked, head sent
		go func() {
			defer close(wrote)
			<-returned
			// The Server learns that the handler returned only once
			// ServeHTTP is back in its hands: until then a write is the
			// handler's own. Wait until it refuses writes (finish has
			// begun; its drain waits for the rest of the body).
			for i := 0; ; i++ {
				if _, err := w.Write(nil); err != nil {
					break
				}
				if i == 1e6 {
					break // never refused: the write below shows it
				}
				runtime.Gosched()
			}
			_, lateErr = io.WriteString(w, "INJECTED")
		}()
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		close(returned) // the handler has returned
	})
	srv := newServer(t, h, ServerConfig{})
	c := dialLoop(t, srv.addr)
	// A chunked body (not buffered by serverHandler) the handler leaves
	// unread: finish's drain waits for it.
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	<-wrote
	_, _ = io.WriteString(c, "0\r\n\r\n")
	b, _ := io.ReadAll(c)
	if lateErr == nil || strings.Contains(string(b), "INJECTED") {
		t.Errorf("write after the handler returned: err %v, reached the client: %v", lateErr, strings.Contains(string(b), "INJECTED"))
	}
}

// TestHTTP1ForbiddenTrailerFieldIsNotSent: trailer names a hop must not
// take from trailers (Content-Length and the like) are not sent.
func TestHTTP1ForbiddenTrailerFieldIsNotSent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Content-Length, X-Ok")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "data")
		w.Header().Set("Content-Length", "999")
		w.Header().Set("X-Ok", "1")
	})
	for _, netHTTP := range loops() {
		srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
		resp, _ := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if _, trailer, _ := strings.Cut(resp, "\r\n0\r\n"); strings.Contains(trailer, "Content-Length") {
			t.Errorf("%s: trailer section %q carries Content-Length", loopName(netHTTP), trailer)
		}
	}
}

// responseBehaviours are handler behaviours, by path, that the fuzz
// target's fixed handler never shows.
func responseBehaviours(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/101":
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
	case "/304-write":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusNotModified)
		_, _ = io.WriteString(w, "hello")
	case "/head-cl":
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	case "/cl-te":
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Transfer-Encoding", "chunked")
		_, _ = io.WriteString(w, "hello")
	case "/te-identity":
		w.Header().Set("Transfer-Encoding", "identity")
		_, _ = io.WriteString(w, "hello")
	case "/trailers":
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "data")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "1")
	case "/flush-empty":
		w.(http.Flusher).Flush()
	case "/wrong-cl":
		w.Header().Set("Content-Length", "3")
		_, _ = io.WriteString(w, "hello")
	case "/big-header":
		w.Header().Set("X-Big", strings.Repeat("b", 40<<10))
		_, _ = io.WriteString(w, "ok")
	case "/write-then-read":
		_, _ = io.WriteString(w, "x")
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	case "/close-body":
		_ = r.Body.Close()
		_, _ = io.WriteString(w, "closed")
	default:
		_, _ = io.WriteString(w, "next")
	}
}

// TestHTTP1ResponseAnswersAsNetHTTP compares both loops, as
// TestHTTP1ServerAnswersAsNetHTTP does, on more handler behaviours.
func TestHTTP1ResponseAnswersAsNetHTTP(t *testing.T) {
	const end = "GET /end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	compareLoops(t, http.HandlerFunc(responseBehaviours), []loopCase{
		{"304 with a body", "GET /304-write HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"Content-Length and TE", "GET /cl-te HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"trailers on 1.0", "GET /trailers HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + end, nil},
		{"write, then read the body (100-continue)", "POST /write-then-read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi" + end, nil},
		{"101 without Hijack", "GET /101 HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"HEAD with a declared length", "HEAD /head-cl HTTP/1.1\r\nHost: x\r\n\r\n" + end, map[int]bool{0: true}},
		{"Transfer-Encoding: identity", "GET /te-identity HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"flush with nothing written", "GET /flush-empty HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"more than the declared length", "GET /wrong-cl HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"large response header", "GET /big-header HTTP/1.1\r\nHost: x\r\n\r\n" + end, nil},
		{"body closed unread", "POST /close-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + end, nil},
	})
}

// onlyIdleConn returns the one connection of srv's own loop, once idle.
func onlyIdleConn(t *testing.T, srv *testServer) *http1Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		srv.h1.mu.Lock()
		var c *http1Conn
		for k := range srv.h1.conns {
			c = k
		}
		srv.h1.mu.Unlock()
		if c != nil && c.state.Load() == h1Idle {
			return c
		}
		runtime.Gosched()
	}
	t.Fatal("no idle connection")
	return nil
}

// TestHTTP1LargeTrailerHeadIsNotKept: the head buffer a connection keeps
// between requests is bounded (maxKeptHead) after a response with large
// trailers or a large interim head, as after a large final head.
func TestHTTP1LargeTrailerHeadIsNotKept(t *testing.T) {
	for _, path := range []string{"/trailer", "/interim"} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			big := strings.Repeat("l", 256<<10)
			switch r.URL.Path {
			case "/interim":
				w.Header().Set("Link", big)
				w.WriteHeader(http.StatusEarlyHints)
				w.Header().Del("Link")
			case "/trailer":
				w.Header().Set("Trailer", "X-T")
				_, _ = io.WriteString(w, strings.Repeat("x", 5000))
				w.Header().Set("X-T", big)
			}
			_, _ = io.WriteString(w, "ok")
		})
		srv := newServer(t, h, ServerConfig{})
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		go func() { _, _ = io.Copy(io.Discard, c) }()
		conn := onlyIdleConn(t, srv)
		if n := cap(conn.head); n > maxKeptHead {
			t.Errorf("%s: the idle connection keeps a %d-byte head buffer (maxKeptHead %d)", path, n, maxKeptHead)
		}
		_ = c.Close()
	}
}

// TestHTTP1StrayHijackDoesNotStopTheNextRequestsWatch: a goroutine a
// handler left behind calls Hijack after its handler returned (it gets
// ErrHijacked); that must not touch the watch of the next request on the
// connection, whose context must still end when the client goes away.
func TestHTTP1StrayHijackDoesNotStopTheNextRequestsWatch(t *testing.T) {
	strayGo, strayDone := make(chan struct{}), make(chan error, 1)
	inSecond := make(chan struct{})
	cancelled := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			rc := http.NewResponseController(w)
			go func() {
				<-strayGo
				_, _, err := rc.Hijack()
				strayDone <- err
			}()
			_, _ = io.WriteString(w, "first")
			return
		}
		close(inSecond)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	})
	srv := goneDelayServer(t, h, 0)
	c := dialLoop(t, srv.addr)
	_, _ = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	var got string
	for !strings.HasSuffix(got, "first") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += string(buf[:n])
	}
	_, _ = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inSecond
	srv.h1.mu.Lock()
	var conn *http1Conn
	for k := range srv.h1.conns {
		conn = k
	}
	srv.h1.mu.Unlock()
	for { // the second request's watch reads the connection
		conn.mu.Lock()
		watching := conn.watching
		conn.mu.Unlock()
		if watching {
			break
		}
		runtime.Gosched()
	}
	close(strayGo)
	if err := <-strayDone; !errors.Is(err, http.ErrHijacked) {
		t.Errorf("stray Hijack: %v, want ErrHijacked", err)
	}
	_ = c.Close() // the client goes away during the second request
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Error("the second request's context did not end when its client went away: the stray Hijack stopped its watch")
	}
}

// TestHTTP1ResponseAdoptsAHeaderOnlyWhenItsOwnIsEmpty: on the Server's
// own loop a handler can hand over a whole header map (header.Adopter)
// while the response's header is empty and unwritten; on net/http's server,
// after a field was set, and after WriteHeader it is refused. The client
// gets the adopted fields, or the ones set the usual way.
func TestHTTP1ResponseAdoptsAHeaderOnlyWhenItsOwnIsEmpty(t *testing.T) {
	for _, preset := range []bool{false, true} {
		for _, netHTTP := range loops() {
			var adopted, late bool
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if preset {
					w.Header().Set("X-Preset", "1")
				}
				a, _ := w.(header.Adopter)
				adopted = a != nil && a.AdoptHeader(http.Header{"X-Adopted": {"1"}})
				w.WriteHeader(http.StatusOK)
				late = a != nil && a.AdoptHeader(http.Header{"X-Late": {"1"}})
			})
			srv := newServer(t, h, ServerConfig{NetHTTPServer: netHTTP})
			resp, err := http.Get("http://" + srv.addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := !netHTTP && !preset
			if adopted != want || late {
				t.Errorf("%s, preset %v: adopted %v, after WriteHeader %v: want %v, false", loopName(netHTTP), preset, adopted, late, want)
			}
			if got := resp.Header.Get("X-Adopted") == "1"; got != want || resp.Header.Get("X-Late") != "" ||
				(resp.Header.Get("X-Preset") == "1") != preset {
				t.Errorf("%s, preset %v: the client got %v", loopName(netHTTP), preset, resp.Header)
			}
		}
	}
}

// BenchmarkHTTP1ResponseHead is the own loop's writing of a response with
// the header fields of a cache hit and 64 bytes of body, all flushed (to
// io.Discard): "map" copies the fields into the header map, which
// WriteHeader notes and writes; "prepared" hands them to WritePrepared
// serialised once, with Age and Cache-Status as extra lines, as a cache
// hit does. Both add the framing and Date.
func BenchmarkHTTP1ResponseHead(b *testing.B) {
	srv := &http.Server{}
	s := &http1Server{srv: srv, draining: new(atomic.Bool)}
	c := &http1Conn{s: s, bw: bufio.NewWriterSize(io.Discard, 4096)}
	req := httptest.NewRequest("GET", "/hello", nil)
	body := []byte(strings.Repeat("x", 64))
	stored := http.Header{
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Date":           {"Mon, 07 Dec 2026 20:16:05 GMT"},
		"Cache-Control":  {"max-age=60"},
		"Content-Length": {"64"},
	}
	fields := maps.Clone(stored)
	fields["Age"], fields["Cache-Status"] = []string{"0"}, []string{"gatekit; hit; ttl=59"}
	p := header.Prepare(stored)
	extra := [2]string{header.Line("Age", "0"), header.Line("Cache-Status", "gatekit; hit; ttl=59")}
	for _, prepared := range []bool{false, true} {
		name := "map"
		if prepared {
			name = "prepared"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := &http1Response{c: c, req: req, header: make(http.Header), declared: -1}
				if prepared {
					if _, ok := w.WritePrepared(http.StatusOK, p, extra, body); !ok {
						b.Fatal("WritePrepared declined")
					}
				} else {
					maps.Copy(w.header, fields)
					w.WriteHeader(http.StatusOK)
					if _, err := w.Write(body); err != nil {
						b.Fatal(err)
					}
				}
				w.finish()
				if w.closeAfter {
					b.Fatal("the response closes the connection")
				}
			}
		})
	}
}

// preparedHit is a stored response's header, prepared, and the extra
// lines of a hit, as the cache hands them to WritePrepared.
var (
	preparedHit = header.Prepare(http.Header{
		"Content-Type":   {"text/plain"},
		"Content-Length": {"5"},
		"Date":           {"Mon, 07 Dec 2026 20:16:05 GMT"},
		"Etag":           {`"v1"`},
	})
	preparedExtra = [2]string{header.Line("Age", "3"), header.Line("Cache-Status", "edge; hit; ttl=57")}
)

// TestHTTP1WritePrepared: the own loop writes a prepared head after the
// fields of its header map, with the extra lines; takes its length, type
// and date from it (no Content-Length of its own, no sniffing, no second
// Date); answers HEAD and HTTP/1.0 as for any head; and afterwards its
// Header has every field sent.
func TestHTTP1WritePrepared(t *testing.T) {
	type seen struct {
		n      int
		ok     bool
		header http.Header
	}
	got := make(chan seen, 1)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Outer", "1")
		pw, _ := w.(header.PreparedWriter)
		if pw == nil {
			t.Error("the own loop's writer is not a header.PreparedWriter")
			return
		}
		n, ok := pw.WritePrepared(http.StatusOK, preparedHit, preparedExtra, []byte("hello"))
		got <- seen{n, ok, w.Header().Clone()}
	}), ServerConfig{})
	wantFields := http.Header{
		"X-Outer":        {"1"},
		"Content-Type":   {"text/plain"},
		"Content-Length": {"5"},
		"Date":           {"Mon, 07 Dec 2026 20:16:05 GMT"},
		"Etag":           {`"v1"`},
		"Age":            {"3"},
		"Cache-Status":   {"edge; hit; ttl=57"},
	}
	for _, tc := range []struct {
		name, req, status, body string
	}{
		{"GET", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", "hello"},
		{"HEAD", "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", ""},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: x\r\n\r\n", "HTTP/1.0 200 OK", "hello"},
	} {
		raw, closed := rawExchange(t, srv.addr, tc.req)
		s := <-got
		if !s.ok || (tc.name != "HEAD" && s.n != 5) {
			t.Errorf("%s: WritePrepared = %d, %v; want 5 (0 for HEAD), true", tc.name, s.n, s.ok)
		}
		head, body, _ := strings.Cut(raw, "\r\n\r\n")
		status, fieldLines, _ := strings.Cut(head, "\r\n")
		if status != tc.status || body != tc.body || !closed {
			t.Errorf("%s: %q, %q, closed %v; want %q, %q, closed", tc.name, status, body, closed, tc.status, tc.body)
		}
		sent := http.Header{}
		for _, l := range strings.Split(fieldLines, "\r\n") {
			k, v, _ := strings.Cut(l, ": ")
			sent[k] = append(sent[k], v)
		}
		want := maps.Clone(wantFields)
		want["Connection"] = []string{"close"}
		if tc.name == "HTTP/1.0" {
			want["Connection"] = nil // absent: HTTP/1.0 closes by default
		}
		for k, v := range want {
			if !slices.Equal(sent[k], v) {
				t.Errorf("%s: sent %s %q, want %q (head %q)", tc.name, k, sent[k], v, head)
			}
		}
		if !strings.HasPrefix(fieldLines, "X-Outer: 1\r\n") {
			t.Errorf("%s: the header map's fields do not come first: %q", tc.name, fieldLines)
		}
		delete(s.header, "Connection")
		if !maps.EqualFunc(s.header, wantFields, slices.Equal) {
			t.Errorf("%s: Header after WritePrepared %v, want %v", tc.name, s.header, wantFields)
		}
	}
}

// TestHTTP1WritePreparedDeclines: WritePrepared does nothing and reports
// false after a head, or for a status whose response has no body or is
// interim; the response is then written as usual.
func TestHTTP1WritePreparedDeclines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(http.ResponseWriter)
		code   int
	}{
		{"after WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, http.StatusOK},
		{"after Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }, http.StatusOK},
		{"304", func(http.ResponseWriter) {}, http.StatusNotModified},
		{"204", func(http.ResponseWriter) {}, http.StatusNoContent},
		{"101", func(http.ResponseWriter) {}, http.StatusSwitchingProtocols},
		{"103", func(http.ResponseWriter) {}, http.StatusEarlyHints},
		{"600", func(http.ResponseWriter) {}, 600},
	} {
		var ok bool
		var h http.Header
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tc.before(w)
			_, ok = w.(header.PreparedWriter).WritePrepared(tc.code, preparedHit, preparedExtra, []byte("hello"))
			h = w.Header().Clone()
		}), ServerConfig{})
		raw, _ := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if ok || strings.Contains(raw, "Etag") || strings.Contains(raw, "hello") || h["Etag"] != nil {
			t.Errorf("%s: WritePrepared reported %v; response %q, header %v: want false and nothing of it", tc.name, ok, raw, h)
		}
	}
}
