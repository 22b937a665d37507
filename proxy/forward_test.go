package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// TestForwardRequestHeaders: what the target receives of the client's
// header: Te only as "trailers", no User-Agent when the client sent none
// (not Go's default), the client's own User-Agent otherwise, and the
// client's header left as it was.
func TestForwardRequestHeaders(t *testing.T) {
	be := newBackend(t, "a")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	tests := []struct {
		name   string
		set    map[string]string
		wantTE string
		wantUA []string
	}{
		{name: "te trailers", set: map[string]string{"Te": "trailers, deflate", "User-Agent": "curl/8"}, wantTE: "trailers", wantUA: []string{"curl/8"}},
		{name: "te without trailers", set: map[string]string{"Te": "deflate"}, wantUA: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x", nil)
			for k, v := range tc.set {
				req.Header.Set(k, v)
			}
			before := req.Header.Clone()
			if rec := serve(px, req); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			h := be.lastHeader()
			if got := h.Get("Te"); got != tc.wantTE {
				t.Errorf("Te = %q, want %q", got, tc.wantTE)
			}
			if got := h["User-Agent"]; strings.Join(got, "|") != strings.Join(tc.wantUA, "|") {
				t.Errorf("User-Agent = %q, want %q", got, tc.wantUA)
			}
			if len(req.Header) != len(before) {
				t.Errorf("the client's header changed: %v, was %v", req.Header, before)
			}
			for k, v := range before {
				if strings.Join(req.Header[k], "|") != strings.Join(v, "|") {
					t.Errorf("the client's %s changed to %q, was %q", k, req.Header[k], v)
				}
			}
		})
	}
}

// TestForwardCleansUnparsableQuery: a query the gateway cannot parse the
// way a target might (';' separators, malformed escapes) reaches the
// target re-encoded without the unparsable parameters; a clean one
// reaches it byte for byte.
func TestForwardCleansUnparsableQuery(t *testing.T) {
	var mu sync.Mutex
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.URL.RawQuery
		mu.Unlock()
	}))
	defer srv.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, srv.URL)), Config{})
	for _, tc := range []struct{ in, want string }{
		{"a=1&b=2", "a=1&b=2"},
		{"b=2&a=%41", "b=2&a=%41"},
		{"a=1;admin=true", ""},
		{"a=1&b=%zz", "a=1"},
	} {
		req := httptest.NewRequest("GET", "/q?"+tc.in, nil)
		if rec := serve(px, req); rec.Code != 200 {
			t.Fatalf("%q: status %d", tc.in, rec.Code)
		}
		mu.Lock()
		if got != tc.want {
			t.Errorf("query %q reached the target as %q, want %q", tc.in, got, tc.want)
		}
		mu.Unlock()
	}
}

// TestForwardMergesResponseHeader: header fields a handler before the
// proxy set stay, and a field both set carries both values.
func TestForwardMergesResponseHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		w.Header().Set("X-Target", "a")
	}))
	defer srv.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, srv.URL)), Config{})
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Request-Id", "r1")
	rec.Header().Set("Vary", "Origin")
	px.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	h := rec.Result().Header
	if h.Get("X-Request-Id") != "r1" || h.Get("X-Target") != "a" || strings.Join(h["Vary"], ",") != "Origin,Accept" {
		t.Fatalf("response header %v: want X-Request-Id r1, X-Target a, Vary Origin,Accept", h)
	}
}

// TestForwardEarlyHintsLeaveHeaderInPlace: a 103 Early Hints response is
// relayed with its own fields, and the final response carries the fields
// handlers before the proxy set, not the hint's.
func TestForwardEarlyHintsLeaveHeaderInPlace(t *testing.T) {
	be := earlyHintsBackend(t, "Link: </a.css>; rel=preload\r\nX-Request-Id: hint\r\n")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		px.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var hintLink, hintID string
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hintLink, hintID = h.Get("Link"), h.Get("X-Request-Id")
			}
			return nil
		},
	}))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if hintLink != "</a.css>; rel=preload" || hintID != "hint" {
		t.Errorf("103 carried Link %q and X-Request-Id %q, want the target's", hintLink, hintID)
	}
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Header.Get("X-Request-Id") != "r1" || resp.Header.Get("Link") != "" {
		t.Errorf("final response %d %q with %v: want 200 ok with X-Request-Id r1 and no Link", resp.StatusCode, body, resp.Header)
	}
}

func TestEventStream(t *testing.T) {
	for _, tc := range []struct {
		ct   []string
		want bool
	}{
		{nil, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"Text/Event-Stream; charset=utf-8"}, true},
		{[]string{" text/event-stream"}, true},
		{[]string{"text/event-streams"}, false},
		{[]string{"text/event"}, false},
		{[]string{"application/json"}, false},
	} {
		if got := eventStream(tc.ct); got != tc.want {
			t.Errorf("eventStream(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}

// flushCounter is a ResponseWriter that counts flushes.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes int
}

func (f *flushCounter) Flush() { f.flushes++ }

// TestLatencyWriterFlushesOncePerInterval: with a positive latency, writes
// within one interval are flushed together when the timer fires (called
// here directly), and nothing is flushed after stop.
func TestLatencyWriterFlushesOncePerInterval(t *testing.T) {
	fc := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	lw := &latencyWriter{w: fc, rc: http.NewResponseController(fc), latency: 1 << 40}
	lw.Write([]byte("a"))
	lw.Write([]byte("b"))
	if fc.flushes != 0 {
		t.Fatalf("flushed %d times before the interval ended", fc.flushes)
	}
	lw.delayedFlush()
	if fc.flushes != 1 {
		t.Fatalf("flushed %d times when the interval ended, want 1", fc.flushes)
	}
	lw.Write([]byte("c"))
	lw.stop()
	lw.delayedFlush() // a timer that fired as stop ran
	if fc.flushes != 1 || fc.Body.String() != "abc" {
		t.Fatalf("flushes %d, body %q after stop: want 1 and abc", fc.flushes, fc.Body.String())
	}
	neg := &latencyWriter{w: fc, rc: http.NewResponseController(fc), latency: -1}
	neg.Write([]byte("d"))
	if fc.flushes != 2 {
		t.Fatalf("a negative latency flushed %d times after a write, want every write", fc.flushes-1)
	}
}

func TestCleanQuery(t *testing.T) {
	many := strings.Repeat("a=1&", maxQueryParams) + "a=1"
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a=1", "a=1"},
		{"a=%20&b", "a=%20&b"},
		{"a=1;b=2", ""},
		{"a=%2", ""},
		{"x=%G0&y=1", "y=1"},
	} {
		if got := cleanQuery(tc.in, false); got != tc.want {
			t.Errorf("cleanQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := cleanQuery(many, false); got != "" {
		t.Errorf("a query of more than %d parameters kept %d bytes, want it dropped", maxQueryParams, len(got))
	}
	if got := cleanQuery("b=2&a=1", true); got != "a=1&b=2" {
		t.Errorf("cleanQuery(always) = %q, want the query re-encoded", got)
	}
}

// BenchmarkOutboundHeader: the outbound header of a browser-like request.
func BenchmarkOutboundHeader(b *testing.B) {
	px, err := New(balancer.NewRoundRobin(poolOf(b, "http://127.0.0.1:1")), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer px.Close()
	req := httptest.NewRequest("GET", "http://example.com/a?b=c", nil)
	for _, kv := range [][2]string{{"Accept", "*/*"}, {"Accept-Encoding", "gzip"}, {"User-Agent", "bench/1"},
		{"Cookie", "a=b"}, {"X-Request-Id", "r1"}, {"Connection", "keep-alive"}} {
		req.Header.Set(kv[0], kv[1])
	}
	var fwd [4]string
	b.ReportAllocs()
	for b.Loop() {
		_ = px.outboundHeader(req, &fwd)
	}
}

// TestForwardCopiesLargeBodiesWithLargeBuffers: a body known to be larger
// than the default buffer is copied with a large one, a small or
// unknown-length body with the default one; both go back to their pools.
func TestForwardCopiesLargeBodiesWithLargeBuffers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write(make([]byte, n))
	}))
	defer srv.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, srv.URL)), Config{})
	for _, tc := range []struct {
		query        string
		small, large int // free buffers after the request
	}{
		{"n=100", 1, 0},
		{"n=100000", 1, 1},
		{"n=100000&chunked=1", 1, 1},
	} {
		rec := serve(px, httptest.NewRequest("GET", "/?"+tc.query, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d, %d bytes", tc.query, rec.Code, rec.Body.Len())
		}
		if s, l := len(px.buffers.free), len(px.large.free); s != tc.small || l != tc.large {
			t.Errorf("after %s: %d default and %d large buffers free, want %d and %d", tc.query, s, l, tc.small, tc.large)
		}
	}
}

// TestForwardFlushesStreamHeaderAtOnce: the header of an event stream
// reaches the client before its first event, however late that event is.
func TestForwardFlushesStreamHeaderAtOnce(t *testing.T) {
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select { // the first event comes only once the client had the header
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "data: 1\n\n")
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{Timeout: -1})
	front := httptest.NewServer(px)
	defer front.Close()
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := front.Client().Get(front.URL) // returns once the header arrived
		got <- result{resp, err}
	}()
	var r result
	select {
	case r = <-got:
		close(release)
	case <-time.After(10 * time.Second): // a bound on the failure only
		close(release)
		t.Fatal("the stream's header did not reach the client before its first event")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	resp := r.resp
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "text/event-stream" || string(body) != "data: 1\n\n" {
		t.Fatalf("got %v %q", resp.Header, body)
	}
}

// TestForwardRefusesUnaskedSwitchingProtocols: a target that answers 101
// to a request that asked for no upgrade gets a 502 relayed, never the
// 101, also through http.Transport (here for a connection cap), and the
// target is charged with the failure.
func TestForwardRefusesUnaskedSwitchingProtocols(t *testing.T) {
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		// Then the connection closes: relayed, the "tunnel" would end.
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	})
	for _, cfg := range []Config{{}, {TransportConfig: TransportConfig{MaxConnsPerHost: 4}}} {
		rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, be))}
		cfg.Retry = RetryConfig{Retries: -1}
		px := newTestProxy(t, rp, cfg)
		rec := serve(px, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusBadGateway {
			t.Errorf("MaxConnsPerHost %d: status %d, want 502", cfg.MaxConnsPerHost, rec.Code)
		}
		if res := rp.last(t); res.Err == nil {
			t.Errorf("MaxConnsPerHost %d: the target's 101 counted as a success: %+v", cfg.MaxConnsPerHost, res)
		}
	}
}

// TestForwardDropsRequestTrailerValues: trailers a client sends after its
// body never reach the target (they would bypass the header checks).
func TestForwardDropsRequestTrailerValues(t *testing.T) {
	got := make(chan http.Header, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Clone()
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{Retry: RetryConfig{Retries: -1}})
	front := httptest.NewServer(px)
	defer front.Close()
	req, _ := http.NewRequest("POST", front.URL, io.NopCloser(strings.NewReader("hello")))
	req.ContentLength = -1 // chunked, with trailers
	req.Trailer = http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Sum": {"abc"}}
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tr := <-got
	if tr.Get("X-Forwarded-For") != "" || tr.Get("X-Sum") != "" {
		t.Fatalf("the target received trailer values %v", tr)
	}
}

// TestForwardStickyCookieSurvivesConnectionField: a target's Connection
// field naming Set-Cookie removes the target's own cookie (a hop-by-hop
// field), never the gateway's sticky session cookie.
func TestForwardStickyCookieSurvivesConnectionField(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Set-Cookie")
		w.Header().Add("Set-Cookie", "target=1")
		io.WriteString(w, "x")
	}))
	defer be.Close()
	pool := poolOf(t, be.URL)
	st, err := balancer.NewSticky(pool, balancer.NewRoundRobin(pool), balancer.StickyConfig{Cookie: "gk"})
	if err != nil {
		t.Fatal(err)
	}
	px := newTestProxy(t, st, Config{})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	cookies := rec.Header()["Set-Cookie"]
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], "gk=") {
		t.Fatalf("Set-Cookie %q, want only the sticky cookie gk", cookies)
	}
}

// TestForwardKeepsTheRequestsOwnTrace: a Got1xxResponse hook already on
// the request's context still sees the 1xx responses the proxy relays.
func TestForwardKeepsTheRequestsOwnTrace(t *testing.T) {
	be := earlyHintsBackend(t, "Link: </a.css>\r\n")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{})
	var codes []int
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
			Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { codes = append(codes, code); return nil },
		}))
		px.ServeHTTP(w, r)
	}))
	defer front.Close()
	resp, err := front.Client().Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(codes) != 1 || codes[0] != http.StatusEarlyHints {
		t.Fatalf("status %d, the request's own hook saw %v: want 200 and [103]", resp.StatusCode, codes)
	}
}

// TestForwardRelays1xxThroughTransportConcurrently: 1xx responses relayed
// from http.Transport's goroutines (here for a connection cap) leave the
// header fields set before the proxy in place, under the race detector.
func TestForwardRelays1xxThroughTransportConcurrently(t *testing.T) {
	be := earlyHintsBackend(t, "Link: </a.css>\r\n")
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{TransportConfig: TransportConfig{MaxConnsPerHost: 4}})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		px.ServeHTTP(w, r)
	}))
	defer front.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				resp, err := front.Client().Get(front.URL)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" || resp.Header.Get("X-Request-Id") != "r1" || resp.Header.Get("Link") != "" {
					t.Errorf("got %q with %v: want ok, X-Request-Id r1, no Link", b, resp.Header)
				}
			}
		})
	}
	wg.Wait()
}

// TestForwardLogsBodyCopyFailure: a target that dies mid-body is logged
// (at Warn, with the target) once the response has started.
func TestForwardLogsBodyCopyFailure(t *testing.T) {
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b") // then closes
	})
	var mu sync.Mutex
	var logs strings.Builder
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{Logger: slogTo(&logs, &mu)})
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	mu.Lock()
	defer mu.Unlock()
	if rec.Code != 200 || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "response body copy failed") {
		t.Fatalf("status %d, logs %q: want the started 200 and a warning", rec.Code, logs.String())
	}
}

// earlyHintsBackend answers every request with a 103 Early Hints carrying
// the header lines hints (each ending in CRLF), then 200 "ok".
func earlyHintsBackend(t *testing.T, hints string) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\n"+hints+"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
}

// TestForwardDoesNotWarnWhenTheClientLeaves: a response the client stops
// reading (its connection gone) is not the target's failure: no warning.
func TestForwardDoesNotWarnWhenTheClientLeaves(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1<<20))
	}))
	defer be.Close()
	var mu sync.Mutex
	var logs strings.Builder
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{Logger: slogTo(&logs, &mu)})
	px.ServeHTTP(failingWriter{httptest.NewRecorder()}, httptest.NewRequest("GET", "/", nil))
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "response body copy failed") {
		t.Fatalf("a client write failure was logged as the target's: %q", logs.String())
	}
}

// failingWriter is a client connection that is gone: every body write
// fails.
type failingWriter struct{ *httptest.ResponseRecorder }

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// adoptingRecorder is a ResponseRecorder that takes a whole header map
// (header.Adopter) when its own is empty, unless refuse is set.
type adoptingRecorder struct {
	*httptest.ResponseRecorder
	refuse bool
}

func (r *adoptingRecorder) AdoptHeader(h http.Header) bool {
	if r.refuse || len(r.HeaderMap) != 0 {
		return false
	}
	r.HeaderMap = h
	return true
}

// TestResponseHeaderAdoptedOrMerged: the target's header map becomes the
// client's response header when that is empty, the writer takes it and
// the response is the pool's, and is merged into it otherwise; either way
// without the hop-by-hop fields and those the target's Connection field
// names.
func TestResponseHeaderAdoptedOrMerged(t *testing.T) {
	for _, tc := range []struct {
		name       string
		preset     bool
		refuse     bool
		transport  bool // the response came from a Transport
		wantAdopts bool
	}{
		{"empty header", false, false, false, true},
		{"a field set before the proxy", true, false, false, false},
		{"a writer that refuses", false, true, false, false},
		{"a Transport's response", false, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &adoptingRecorder{ResponseRecorder: httptest.NewRecorder(), refuse: tc.refuse}
			if tc.preset {
				w.Header().Set("Vary", "Origin")
			}
			res := &http.Response{Header: http.Header{
				"Connection": {"X-Hop"}, "X-Hop": {"secret"}, "Keep-Alive": {"timeout=5"},
				"Vary": {"Accept"}, "X-End": {"e2e"},
			}}
			got := responseHeader(w, res, !tc.transport)
			if adopted := reflect.ValueOf(got).UnsafePointer() == reflect.ValueOf(res.Header).UnsafePointer(); adopted != tc.wantAdopts {
				t.Fatalf("the target's map adopted: %v, want %v", adopted, tc.wantAdopts)
			}
			if reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(w.Header()).UnsafePointer() {
				t.Fatal("responseHeader did not return the writer's header")
			}
			wantVary := "Accept"
			if tc.preset {
				wantVary = "Origin,Accept"
			}
			if got.Get("X-End") != "e2e" || strings.Join(got["Vary"], ",") != wantVary ||
				got["X-Hop"] != nil || got["Keep-Alive"] != nil || got["Connection"] != nil {
				t.Fatalf("header %v: want X-End, Vary %s and no hop-by-hop field", got, wantVary)
			}
		})
	}
}
