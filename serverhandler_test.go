package gatekit

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkServerHandler is the Server's per-request work around the
// user's handler: the framing verdict, the header size and request-target
// checks and the response writer with its write idle deadline, which here
// moves the deadline of a real loopback TCP connection (a runtime timer)
// reached as on a Server's plaintext connection, cleared after each
// response as net/http clears it. The handler answers 64 bytes.
func BenchmarkServerHandler(b *testing.B) {
	body := []byte(strings.Repeat("x", 64))
	h, ln := benchServer(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{"64"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, w, sc := benchRequest(b, ln, httptest.NewRequest("GET", "/hello", nil))
		if req == nil {
			return
		}
		req.Header.Set("User-Agent", "bench")
		for pb.Next() {
			h.ServeHTTP(w, req)
			_ = sc.SetWriteDeadline(time.Time{}) // as net/http does after each response
		}
	})
}

// BenchmarkServerHandlerPost is BenchmarkServerHandler for a POST with a
// small body, which the Server reads under the body read idle timeout and
// buffers before the handler runs.
func BenchmarkServerHandlerPost(b *testing.B) {
	h, ln := benchServer(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	body := []byte(`{"tier":"gold"}` + "\n")
	br := bytes.NewReader(body)
	req, w, sc := benchRequest(b, ln, httptest.NewRequest("POST", "/orders", nil))
	if req == nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(br)
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(body)
		h.ServeHTTP(w, req)
		_ = sc.SetWriteDeadline(time.Time{})
	}
}

// benchServer returns the Server's handler around fn and a loopback
// listener for benchRequest; both last until the benchmark ends.
func benchServer(b *testing.B, fn http.HandlerFunc) (http.Handler, net.Listener) {
	srv, err := NewServer(fn, ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	return srv.HTTPServer().Handler, ln
}

// benchRequest connects to ln and returns r as it arrives on that
// connection in a Server's handler, a writer whose deadlines are the
// connection's, and the connection; on an error it reports it (it may
// run on RunParallel's goroutines) and returns nils.
func benchRequest(b *testing.B, ln net.Listener, r *http.Request) (*http.Request, *connDeadlineWriter, *limitConn) {
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Error(err)
		return nil, nil, nil
	}
	b.Cleanup(func() { _ = c.Close() })
	sc := &limitConn{Conn: &serverConn{Conn: c}}
	return r.WithContext(withConn(r.Context(), sc)), &connDeadlineWriter{discardWriter: discardWriter{h: http.Header{}}, c: sc}, sc
}

// connDeadlineWriter is a discarding ResponseWriter whose deadlines are
// those of a real connection.
type connDeadlineWriter struct {
	discardWriter
	c net.Conn
}

func (w *connDeadlineWriter) SetWriteDeadline(t time.Time) error { return w.c.SetWriteDeadline(t) }

func (w *connDeadlineWriter) SetReadDeadline(t time.Time) error { return w.c.SetReadDeadline(t) }

func TestHeaderSizeCountsWhatMaxHeaderBytesBounds(t *testing.T) {
	raw := "GET /items/7?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: t\r\nX-A: 1\r\nX-A: 22\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := headerSize(r), len(raw)-2; got != want {
		t.Errorf("headerSize = %d, want %d (the head without its final CRLF)", got, want)
	}
}

func TestGRPCStreamsAreExemptFromTheBodyReadIdleTimeout(t *testing.T) {
	tests := []struct {
		proto int
		ct    string
		want  bool
	}{
		{2, "application/grpc", true},
		{2, "application/grpc+proto", true},
		{1, "application/grpc", false}, // gRPC is HTTP/2 only
		{2, "application/json", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "/svc/Method", nil)
		r.ProtoMajor = tc.proto
		r.Header.Set("Content-Type", tc.ct)
		if got := isGRPC(r); got != tc.want {
			t.Errorf("HTTP/%d %s: isGRPC = %v, want %v", tc.proto, tc.ct, got, tc.want)
		}
	}
}

// deadlineWriter records the read deadlines set through it.
type deadlineWriter struct {
	discardWriter
	reads []time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error {
	w.reads = append(w.reads, t)
	return nil
}

// A proxy's transport may still read the request body after the handler
// has returned (the backend answered early). Such a read must not set the
// connection's read deadline: by then net/http has set the one for the
// idle connection or the next request, and a stray one would cut them.
func TestBodyReadAfterTheHandlerReturnedLeavesTheReadDeadlineAlone(t *testing.T) {
	var body io.Reader
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body = r.Body // read later, as a transport's goroutine would
	}), ServerConfig{BufferBodyBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	w := &deadlineWriter{discardWriter: discardWriter{h: http.Header{}}}
	r := httptest.NewRequest("POST", "/upload", strings.NewReader("abc"))
	srv.HTTPServer().Handler.ServeHTTP(w, r)
	set := len(w.reads)
	if _, err := body.Read(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if len(w.reads) != set {
		t.Errorf("a body read after the handler returned set the read deadline (%v)", w.reads[set:])
	}
}

// TestMalformedTargetHostIsRefusedByBothLoops: the host of an
// absolute-form target becomes r.Host; net/http's server checks only a
// Host field, so the Server refuses a malformed target host itself, on
// both loops alike, and the handler never sees it.
func TestMalformedTargetHostIsRefusedByBothLoops(t *testing.T) {
	for _, netHTTP := range loops() {
		var seen []string
		var mu sync.Mutex
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Host)
			mu.Unlock()
		}), ServerConfig{NetHTTPServer: netHTTP})
		for _, tc := range []struct {
			raw  string
			want string // status, and the host the handler sees when served
		}{
			{"GET http://\"/ HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
			{"GET http://a\"b:80/ HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
			{"0 A://\" HTTP/1.0\n\n", "400"},
			{"GET http://good.example/ HTTP/1.1\r\nHost: x\r\n\r\n", "200 good.example"},
		} {
			mu.Lock()
			seen = nil
			mu.Unlock()
			got, err := fuzzStatuses(srv.addr, []byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			status := strings.SplitN(got[0], " ", 2)[0]
			if len(seen) > 0 {
				status += " " + strings.Join(seen, ",")
			}
			mu.Unlock()
			if status != tc.want || tc.want == "400" && !strings.Contains(got[0], "malformed Host header") {
				t.Errorf("%s, %q: got %q, handler saw %q; want %s", loopName(netHTTP), tc.raw, got, status, tc.want)
			}
		}
	}
}
