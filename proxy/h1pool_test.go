package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

func TestPoolHandlesOnlyWhatItCanSendSynchronously(t *testing.T) {
	if !probeSupported {
		t.Skip("no non-blocking idle check on this platform: every request uses http.Transport")
	}
	p := &h1Pool{}
	for _, tc := range []struct {
		name   string
		url    string
		header string
		body   string
		cl     int64
		want   bool
	}{
		{"GET to http", "http://a/", "", "", 0, true},
		{"small POST", "http://a/", "", "x", 1, true},
		{"body at the limit", "http://a/", "", strings.Repeat("x", syncBodyMax), syncBodyMax, true},
		{"body over the limit", "http://a/", "", strings.Repeat("x", syncBodyMax+1), syncBodyMax + 1, false},
		{"body of unknown length", "http://a/", "", "x", -1, false},
		{"https target", "https://a/", "", "", 0, false},
		{"upgrade", "http://a/", "Upgrade", "", 0, false},
		{"expect 100-continue", "http://a/", "Expect", "x", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest("POST", tc.url, body)
			req.ContentLength = tc.cl
			if tc.header != "" {
				req.Header.Set(tc.header, "websocket")
			}
			if got := p.handles(req); got != tc.want {
				t.Fatalf("handles = %v, want %v", got, tc.want)
			}
		})
	}
}

// countingBackend answers each request with its id; it counts
// connections, and calls after (if set) with the connection once a
// response went out.
func countingBackend(t *testing.T, conns *atomic.Int64, after func(i int, c net.Conn) bool) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			body := "id:" + req.URL.Query().Get("id")
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
				return
			}
			if after != nil && !after(i, c) {
				return
			}
		}
	})
}

func TestPoolReusesOneConnectionSequentially(t *testing.T) {
	var conns atomic.Int64
	be := countingBackend(t, &conns, nil)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{})
	for i := range 20 {
		id := strconv.Itoa(i)
		if rec := serve(px, httptest.NewRequest("GET", "/?id="+id, nil)); rec.Code != 200 || rec.Body.String() != "id:"+id {
			t.Fatalf("request %d: %d %q", i, rec.Code, rec.Body.String())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 20 sequential requests, want 1", n)
	}
}

// TestPoolIdleConnectionClosedByTarget: the target closes each
// connection after one response; the next request finds it closed while
// idle and dials a fresh one, with no error and no retry.
func TestPoolIdleConnectionClosedByTarget(t *testing.T) {
	var conns atomic.Int64
	closed := make(chan struct{}, 10)
	be := countingBackend(t, &conns, func(_ int, c net.Conn) bool {
		c.Close() // before the next request is sent
		closed <- struct{}{}
		return false
	})
	budget := NewRetryBudget(0.2, 3)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{Retry: RetryConfig{Budget: budget}})
	for i := range 3 {
		if rec := serve(px, httptest.NewRequest("POST", "/?id=p", strings.NewReader("x"))); rec.Code != 200 {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		<-closed
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	if st := budget.Stats(); st.Retries != 0 || px.Stats().TransportReSends != 0 {
		t.Fatalf("retries %d, re-sends %d: a connection closed while idle must be dropped before use", st.Retries, px.Stats().TransportReSends)
	}
}

// TestPoolStrayBytesWhileIdle: after its response, the target sends a
// second response nobody asked for, some time later. It must never reach
// the next request: the idle check finds it, discards the connection and
// quarantines the target.
func TestPoolStrayBytesWhileIdle(t *testing.T) {
	if !probeSupported {
		t.Skip("no idle check on this platform")
	}
	var conns atomic.Int64
	send, sent := make(chan struct{}), make(chan struct{})
	be := countingBackend(t, &conns, func(i int, c net.Conn) bool {
		<-send // once the proxy has read the whole response
		io.WriteString(c, evil)
		sent <- struct{}{}
		return true
	})
	pool := poolOf(t, be)
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{Retry: RetryConfig{Retries: -1}})
	for i := range 3 {
		id := strconv.Itoa(i)
		rec := serve(px, httptest.NewRequest("GET", "/?id="+id, nil))
		if rec.Code != 200 || rec.Body.String() != "id:"+id {
			t.Fatalf("request %d got %d %q", i, rec.Code, rec.Body.String())
		}
		send <- struct{}{}
		<-sent
	}
	if px.Stats().Desyncs == 0 || !px.Quarantined(pool.Targets()[0]) {
		t.Fatalf("desyncs %d, quarantined %v: want the idle bytes caught", px.Stats().Desyncs, px.Quarantined(pool.Targets()[0]))
	}
}

func TestPoolForwardsTrailers(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	front := frontOf(t, px)
	for range 2 { // the second on the reused connection
		resp, err := http.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" {
			t.Fatalf("body %q, trailer %q", b, resp.Trailer.Get("X-Checksum"))
		}
	}
}

// TestPoolClientCancelStopsTheWait: a client that goes away while the
// target has not answered ends the wait at once (499, not counted
// against the target), and the connection is not reused.
func TestPoolClientCancelStopsTheWait(t *testing.T) {
	be, arrived := stallingBackend(t)
	rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, be.URL))}
	px := newTestProxy(t, rp, Config{Retry: RetryConfig{Retries: -1}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	rec := serve(px, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if rec.Code != 499 {
		t.Fatalf("status %d, want 499 (logged, never written to a live client)", rec.Code)
	}
	if res := rp.last(t); !res.Canceled {
		t.Fatalf("result %+v, want Canceled", res)
	}
}

// TestPoolResponseHeaderTooLarge: a header over 1 MiB is refused (502) and
// its connection closed.
func TestPoolResponseHeaderTooLarge(t *testing.T) {
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", maxResponseHeader)+"\r\nContent-Length: 0\r\n\r\n")
	})
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{Retry: RetryConfig{Retries: -1}})
	if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", rec.Code)
	}
}

// TestPoolIdleTimeout: idle connections are closed once IdleConnTimeout
// passes, with no request to notice it.
func TestPoolIdleTimeout(t *testing.T) {
	var conns atomic.Int64
	closedByProxy := make(chan struct{}, 1)
	be := countingBackend(t, &conns, func(_ int, c net.Conn) bool {
		var b [1]byte
		if _, err := c.Read(b[:]); err == io.EOF {
			closedByProxy <- struct{}{}
		}
		return false
	})
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{TransportConfig: TransportConfig{IdleConnTimeout: 30 * time.Millisecond}})
	if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	select {
	case <-closedByProxy:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was not closed after IdleConnTimeout")
	}
}

// TestDeadlineErrWaitsForTheContext: an error at or after the context's
// deadline is reported as the context's, so that a client's deadline is
// never taken for the target's failure.
func TestDeadlineErrWaitsForTheContext(t *testing.T) {
	dialErr := errors.New("dial tcp: i/o timeout")
	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	future, cancelFuture := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFuture()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"deadline passed", past, context.DeadlineExceeded},
		{"deadline ahead", future, dialErr},
		{"no deadline", context.Background(), dialErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deadlineErr(tc.ctx, dialErr); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRequestsThePoolLeavesToTheTransport: requests the synchronous pool
// does not send (a body of unknown length, one over syncBodyMax, Expect:
// 100-continue) still reach the target whole, once, through
// http.Transport.
func TestRequestsThePoolLeavesToTheTransport(t *testing.T) {
	var got atomic.Value
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		io.WriteString(w, strconv.Itoa(len(b)))
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	front := frontOf(t, px)
	big := strings.Repeat("b", syncBodyMax+1)
	for _, tc := range []struct {
		name   string
		body   string
		cl     int64
		expect bool
	}{
		{"unknown length", "streamed", -1, false},
		{"over the limit", big, int64(len(big)), false},
		{"expect 100-continue", "wait for it", int64(len("wait for it")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", front.URL, io.NopCloser(strings.NewReader(tc.body)))
			req.ContentLength = tc.cl
			if tc.expect {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != strconv.Itoa(len(tc.body)) || got.Load() != tc.body {
				t.Fatalf("status %d, answer %q: the target did not get the body whole", resp.StatusCode, b)
			}
		})
	}
}

// TestPoolResponseHeaderTimeoutOnReusedConnIsNotResent: a target that
// does not answer within ResponseHeaderTimeout on a reused connection got
// the request; the pool must not send it again on a fresh connection as
// it does after a keep-alive race (a close with nothing read).
func TestPoolResponseHeaderTimeoutOnReusedConnIsNotResent(t *testing.T) {
	var received atomic.Int64
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if received.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			} // later requests: never answered
		}
	})
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{
		Retry:           RetryConfig{Retries: -1},
		TransportConfig: TransportConfig{ResponseHeaderTimeout: 50 * time.Millisecond},
	})
	if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != 200 {
		t.Fatalf("first request: status %d", rec.Code)
	}
	if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code < 500 {
		t.Fatalf("second request: status %d, want a gateway error", rec.Code)
	}
	if n := received.Load(); n != 2 {
		t.Fatalf("the target received %d requests for 2, want 2: a header timeout was re-sent", n)
	}
}

// closeRecorder is a request body that records its Close.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// TestPoolRoundTripClosesBodyOnFailure: a request the pool cannot send
// (its target refuses the connection) has its body closed, as the
// RoundTripper contract requires.
func TestPoolRoundTripClosesBodyOnFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newH1Pool(newDesyncGuard(0), &net.Dialer{}, TransportConfig{})
	defer p.CloseIdleConnections()
	body := &closeRecorder{Reader: strings.NewReader("hello")}
	req, _ := http.NewRequest("POST", "http://"+addr+"/", body)
	req.ContentLength = 5
	if _, err := p.RoundTrip(req); err == nil {
		t.Fatal("RoundTrip to a closed port succeeded")
	}
	if !body.closed.Load() {
		t.Fatal("the request body was not closed")
	}
}
