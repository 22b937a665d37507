package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// lockedWriter serialises writes from concurrent log calls.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func slogTo(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu: mu, w: w}, nil))
}

// backend is an httptest server answering with its name and recording the
// headers of the last request.
type backend struct {
	*httptest.Server
	name  string
	mu    sync.Mutex
	last  http.Header
	host  string
	conns atomic.Int64 // connections accepted
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.last = r.Header.Clone()
		b.host = r.Host
		b.mu.Unlock()
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		io.WriteString(w, name)
	}))
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func (b *backend) lastHeader() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// trusting returns a TransportConfig whose TLS client trusts the
// certificate of srv, an httptest TLS server.
func trusting(srv *httptest.Server) TransportConfig {
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return TransportConfig{TLSClientConfig: &tls.Config{RootCAs: roots}}
}

func poolOf(t testing.TB, urls ...string) *balancer.Pool {
	t.Helper()
	ups, err := balancer.ParseUpstreams(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	p, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestProxy(t *testing.T, pol balancer.Policy, cfg Config) *Proxy {
	t.Helper()
	px, err := New(pol, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// recorder wraps a policy and records the results passed to done.
type recorder struct {
	balancer.Policy
	mu      sync.Mutex
	results []balancer.Result
}

func (rp *recorder) Pick(_ context.Context, key string) (*balancer.Target, func(balancer.Result), error) {
	t, done, err := rp.Policy.Pick(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	return t, func(r balancer.Result) {
		rp.mu.Lock()
		rp.results = append(rp.results, r)
		rp.mu.Unlock()
		done(r)
	}, nil
}

func (rp *recorder) last(t *testing.T) balancer.Result {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if len(rp.results) == 0 {
		t.Fatal("done was not called")
	}
	return rp.results[len(rp.results)-1]
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func checkProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d (body %q)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	var body struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status != status {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if strings.Contains(body.Detail, "dial") || strings.Contains(body.Detail, "127.0.0.1") {
		t.Fatalf("problem detail leaks internals: %q", body.Detail)
	}
}

// deadURL returns the URL of a port that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// stallingBackend holds every request until the test ends.
func stallingBackend(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, arrived
}

func newBreaker(t testing.TB, p balancer.Policy, cfg balancer.BreakerConfig) *balancer.Breaker {
	t.Helper()
	b, err := balancer.NewBreaker(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestSticky(t *testing.T, pool *balancer.Pool, cfg balancer.StickyConfig) *balancer.Sticky {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = []byte("0123456789abcdef0123456789abcdef")
	}
	s, err := balancer.NewSticky(pool, balancer.NewRoundRobin(pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeResolver answers lookups with the addresses (or error) last set.
type fakeResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	err   error
}

func (f *fakeResolver) set(err error, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.addrs = err, nil
	for _, a := range addrs {
		f.addrs = append(f.addrs, netip.MustParseAddr(a))
	}
}

func (f *fakeResolver) lookupIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs), f.err
}

var t0 = time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)

func newOutlier(t testing.TB, p *balancer.Pool, cfg balancer.OutlierConfig) *balancer.Outlier {
	t.Helper()
	o, err := balancer.NewOutlier(balancer.NewRoundRobin(p), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newChecker(t testing.TB, p *balancer.Pool, cfg balancer.HealthConfig) *balancer.HealthChecker {
	t.Helper()
	hc, err := balancer.NewHealthChecker(map[string]*balancer.Pool{"test": p}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hc.Close() })
	return hc
}

// faultBackend is an httptest server that logs the X-Req-ID of every
// request it receives (with the body it read) and then behaves as mode
// says. Responses carry X-Backend and echo the request ID.
type faultBackend struct {
	*httptest.Server
	name string
	mode atomic.Value // faultMode

	mu       sync.Mutex
	arrivals map[string]int    // X-Req-ID -> count
	bodies   map[string]string // X-Req-ID -> last body read
	total    atomic.Int64
}

type faultMode string

const (
	modeOK       faultMode = "ok"       // 200, body "<name>:<id>"
	modeReset    faultMode = "reset"    // read the request (and body), then RST
	mode503      faultMode = "503"      // 503 answer
	modeResetRaw faultMode = "resetraw" // RST before reading the body
	modeFIN      faultMode = "fin"      // read the request, close without answering
)

func newFaultBackend(t testing.TB, name string, mode faultMode) *faultBackend {
	t.Helper()
	fb := &faultBackend{name: name, arrivals: map[string]int{}, bodies: map[string]string{}}
	fb.mode.Store(mode)
	fb.Server = httptest.NewServer(http.HandlerFunc(fb.serve))
	t.Cleanup(fb.Close)
	return fb
}

func (fb *faultBackend) setMode(m faultMode) { fb.mode.Store(m) }

func (fb *faultBackend) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Req-ID")
	mode := fb.mode.Load().(faultMode)
	var body []byte
	if mode != modeResetRaw {
		body, _ = io.ReadAll(r.Body)
	}
	fb.mu.Lock()
	fb.arrivals[id]++
	fb.bodies[id] = string(body)
	fb.mu.Unlock()
	fb.total.Add(1)
	switch mode {
	case modeReset, modeResetRaw:
		resetConn(w)
	case modeFIN:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	case mode503:
		w.Header().Set("X-Backend", fb.name)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.Header().Set("X-Backend", fb.name)
		io.WriteString(w, fb.name+":"+id)
	}
}

// resetConn hijacks the connection behind w and closes it with RST.
func resetConn(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (fb *faultBackend) count(id string) int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.arrivals[id]
}

func (fb *faultBackend) body(id string) string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.bodies[id]
}

// deadAddr returns the URL of a loopback port nobody listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// rawBackend serves each accepted connection with handle, on its own
// goroutine; it closes the listener and waits for handlers on cleanup.
func rawBackend(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// reqID returns a unique request ID for test request i.
func reqID(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// recordingBackend is a raw HTTP/1 backend that records the exact bytes
// of every request head it receives and answers each with 200 "ok".
type recordingBackend struct {
	url string
	mu  sync.Mutex
	got bytes.Buffer
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	rb := &recordingBackend{}
	rb.url = rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			var head []byte
			for {
				line, err := br.ReadBytes('\n')
				head = append(head, line...)
				if err != nil {
					return
				}
				if string(line) == "\r\n" {
					break
				}
			}
			rb.mu.Lock()
			rb.got.Write(head)
			rb.mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return rb
}

// received returns the bytes of every request head received so far.
func (rb *recordingBackend) received() string {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return rb.got.String()
}

// rawRoundTrip sends raw to the server at addr (host:port) over a new
// connection and returns everything it answers until it closes the
// connection.
func rawRoundTrip(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", raw, err)
	}
	return string(resp)
}
