package gatekit

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = []string{"64"}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}), ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.HTTPServer().Handler
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		// As a Server's connection arrives in the handler.
		sc := &limitConn{Conn: &serverConn{Conn: c}}
		req := httptest.NewRequest("GET", "/hello", nil)
		req = req.WithContext(withConn(req.Context(), sc))
		req.Header.Set("User-Agent", "bench")
		w := &connDeadlineWriter{discardWriter: discardWriter{h: http.Header{}}, c: sc}
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
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.HTTPServer().Handler
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sc := &limitConn{Conn: &serverConn{Conn: c}}
	body := []byte(`{"tier":"gold"}` + "\n")
	br := bytes.NewReader(body)
	req := httptest.NewRequest("POST", "/orders", nil)
	req = req.WithContext(withConn(req.Context(), sc))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(br)
	w := &connDeadlineWriter{discardWriter: discardWriter{h: http.Header{}}, c: sc}
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(body)
		h.ServeHTTP(w, req)
		_ = sc.SetWriteDeadline(time.Time{})
	}
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
