package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/problem"
	"go.uber.org/goleak"
)

// pickWatch wraps a policy and counts picks of a watched target made
// after the outlier detector had already ejected it.
type pickWatch struct {
	balancer.Policy
	o       *balancer.Outlier
	watched *balancer.Target
	late    atomic.Int64
}

func (w *pickWatch) Pick(_ context.Context, key string) (*balancer.Target, func(balancer.Result), error) {
	_, ejected := w.o.Ejected(w.watched)
	t, done, err := w.Policy.Pick(context.Background(), key)
	if err == nil && ejected && t == w.watched {
		w.late.Add(1)
	}
	return t, done, err
}

// killBackend stops fb accepting connections and resets the open ones.
func killBackend(fb *faultBackend) {
	fb.setMode(modeReset)
	fb.Listener.Close()
	fb.CloseClientConnections()
}

// runLoad sends n requests from workers goroutines, calling before(i)
// first, and returns the status of each.
func runLoad(h http.Handler, n, workers int, method string, before func(i int)) []int {
	codes := make([]int, n)
	spread(n, workers, func(i int) {
		if before != nil {
			before(i)
		}
		body := ""
		if method == "POST" {
			body = "p"
		}
		codes[i] = sendReq(h, method, reqID("r", i), body).Code
	})
	return codes
}

// spread calls f(i) for every i below n, from workers goroutines taking
// the next i in turn, and returns when all calls have.
func spread(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func TestBackendKilledUnderGETLoad(t *testing.T) {
	b := []*faultBackend{newFaultBackend(t, "b1", modeOK), newFaultBackend(t, "b2", modeOK), newFaultBackend(t, "b3", modeOK)}
	pool := poolOf(t, b[0].URL, b[1].URL, b[2].URL)
	o := newOutlier(t, pool, balancer.OutlierConfig{})
	watch := &pickWatch{Policy: o, o: o, watched: pool.Targets()[1]}
	var logMu sync.Mutex
	var logBuf strings.Builder
	px := newTestProxy(t, watch, Config{Retry: fastRetry(RetryConfig{}), Logger: slogTo(&logBuf, &logMu)})
	const n = 600
	var killOnce sync.Once
	codes := runLoad(px, n, 8, "GET", func(i int) {
		if i == n/3 {
			killOnce.Do(func() { killBackend(b[1]) })
		}
	})
	for i, c := range codes {
		if c != 200 {
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("request %d: status %d; a killed backend must be invisible to GET clients\n%s", i, c, logBuf.String())
		}
		id := reqID("r", i)
		total := b[0].count(id) + b[1].count(id) + b[2].count(id)
		if total < 1 || total > 2 {
			t.Fatalf("request %s arrived %d times, want 1 or 2 (at most one retry)", id, total)
		}
	}
	if _, ej := o.Ejected(pool.Targets()[1]); !ej {
		t.Fatal("the killed backend was not ejected")
	}
	if late := watch.late.Load(); late != 0 {
		t.Fatalf("%d requests were sent to the killed backend after its ejection", late)
	}
}

// deadPicks wraps a policy and records the keys (request IDs) of picks
// of a watched target made once dead is set.
type deadPicks struct {
	balancer.Policy
	watched *balancer.Target
	dead    atomic.Bool
	mu      sync.Mutex
	ids     []string
}

func (d *deadPicks) Pick(_ context.Context, key string) (*balancer.Target, func(balancer.Result), error) {
	t, done, err := d.Policy.Pick(context.Background(), key)
	if err == nil && t == d.watched && d.dead.Load() {
		d.mu.Lock()
		d.ids = append(d.ids, key)
		d.mu.Unlock()
	}
	return t, done, err
}

// TestDyingBackendPOSTsNeverDuplicated: b2 first reads POSTs and
// resets (they may have been processed: 502, never re-sent), then is
// killed before the outlier detector ejects it, so that POSTs picked for
// it fail to dial: those never reached it and are retried elsewhere.
func TestDyingBackendPOSTsNeverDuplicated(t *testing.T) {
	b := []*faultBackend{newFaultBackend(t, "b1", modeOK), newFaultBackend(t, "b2", modeOK), newFaultBackend(t, "b3", modeOK)}
	pool := poolOf(t, b[0].URL, b[1].URL, b[2].URL)
	o := newOutlier(t, pool, balancer.OutlierConfig{Consecutive: 30})
	watch := &deadPicks{Policy: o, watched: pool.Targets()[1]}
	px, err := New(watch, Config{Retry: fastRetry(RetryConfig{}),
		Key: func(r *http.Request) string { return r.Header.Get("X-Req-ID") }})
	if err != nil {
		t.Fatal(err)
	}
	checkBaseline := baseline(t)
	const n = 400
	codes := runLoad(px, n, 8, "POST", func(i int) {
		switch i {
		case n / 4:
			b[1].setMode(modeReset) // dying: reads requests, then resets
		case n/4 + 24: // about 8 resets, well under the 30 that eject
			killBackend(b[1]) // dead: refuses connections
			px.Close()        // no idle connection to it survives
			watch.dead.Store(true)
		}
	})
	var bad502, killRace int
	for i, c := range codes {
		id := reqID("r", i)
		arrivals := b[0].count(id) + b[1].count(id) + b[2].count(id)
		if arrivals > 1 {
			t.Fatalf("POST %s arrived %d times: duplicated", id, arrivals)
		}
		switch {
		case c == 200 && arrivals == 1:
		case c == http.StatusBadGateway && b[1].count(id) == 1:
			bad502++ // reached the dying backend: never re-sent
		case c == http.StatusBadGateway && arrivals == 0 && i >= n/4 && i < n/4+40:
			killRace++ // written to a connection the kill reset: maybe reached
		default:
			t.Fatalf("POST %s: status %d with arrivals %d/%d/%d", id, c, b[0].count(id), b[1].count(id), b[2].count(id))
		}
	}
	if bad502 == 0 {
		t.Fatal("no POST reached the dying backend: the test did not exercise it")
	}
	watch.mu.Lock()
	retried := 0
	for _, id := range watch.ids {
		var i int
		fmt.Sscanf(id, "r-%d", &i)
		if b[1].count(id) != 0 || codes[i] != 200 {
			t.Fatalf("POST %s picked for the dead backend: status %d, arrivals there %d; want a retry elsewhere",
				id, codes[i], b[1].count(id))
		}
		retried++
	}
	watch.mu.Unlock()
	if retried == 0 {
		t.Fatal("no POST was picked for the dead backend before its ejection: the dial-failed half did not run")
	}
	t.Logf("%d POSTs reached the dying backend (502), %d failed to dial it and were retried (200), %d lost in the kill", bad502, retried, killRace)
	px.Close()
	checkBaseline()
}

// baseline records the goroutines running now (test servers included) and
// returns a check that every goroutine started since, upstream
// connections' included (each has reader and writer goroutines on both
// sides), has ended. Call it after closing the proxy's idle connections.
func baseline(t *testing.T) func() {
	opt := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		if err := goleak.Find(opt); err != nil {
			t.Fatalf("not back to baseline: %v", err)
		}
	}
}

// TestAllBackendsDownAnswer503 runs with default settings everywhere:
// every backend refuses connections, and every client gets a 503 with
// Retry-After at once, before and after ejections and panic mode.
func TestAllBackendsDownAnswer503(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			pool := poolOf(t, deadAddr(t), deadAddr(t), deadAddr(t))
			o := newOutlier(t, pool, balancer.OutlierConfig{})
			px := newTestProxy(t, o, Config{})
			start := time.Now()
			for i := range 20 {
				body := ""
				if method == "POST" {
					body = "p"
				}
				rec := sendReq(px, method, reqID("d", i), body)
				checkProblem(t, rec, http.StatusServiceUnavailable)
				if rec.Header().Get("Retry-After") != "1" {
					t.Fatalf("request %d: 503 without Retry-After", i)
				}
			}
			if o.Stats().Ejections == 0 {
				t.Fatal("no target was ejected")
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("all-down requests took %v: want fast failure, no hang", el)
			}
		})
	}
}

// TestPanicModeSkipsCheckedDownTargets: panic mode puts ejected targets
// back in rotation, never those active health checks hold down. With
// every target failing its checks, picks fail fast (503, Retry-After)
// rather than reaching (or waiting on) targets known to be down.
func TestPanicModeSkipsCheckedDownTargets(t *testing.T) {
	a, b := newFaultBackend(t, "a", modeOK), newFaultBackend(t, "b", modeOK)
	pool := poolOf(t, a.URL, b.URL)
	o := newOutlier(t, pool, balancer.OutlierConfig{})
	px := newTestProxy(t, o, Config{})
	hc := newChecker(t, pool, balancer.HealthConfig{Rise: 1, Fall: 1})
	ts := pool.Targets()
	errDown := errors.New("probe failed")
	hc.ReportAt(ts[0], errDown, t0)
	hc.ReportAt(ts[1], errDown, t0)
	if !o.Stats().Panicking {
		t.Fatal("every target checked down, and no panic")
	}
	rec := sendReq(px, "GET", "cd", "")
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" || a.total.Load()+b.total.Load() != 0 {
		t.Fatalf("Retry-After %q, arrivals %d: want a 503 with Retry-After and no arrival",
			rec.Header().Get("Retry-After"), a.total.Load()+b.total.Load())
	}
	hc.ReportAt(ts[1], nil, t0.Add(time.Second))
	if rec := sendReq(px, "GET", "cd2", ""); rec.Code != 200 || b.count("cd2") != 1 {
		t.Fatalf("after one target passes again: status %d, arrivals at it %d", rec.Code, b.count("cd2"))
	}
}

func TestConnectionsBackToBaseline(t *testing.T) {
	var open atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	be.Start()
	defer be.Close()
	px, err := New(balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	runLoad(px, 200, 8, "GET", nil)
	if open.Load() == 0 {
		t.Fatal("no upstream connection was counted")
	}
	px.Close()
	if !waitFor(2*time.Second, func() bool { return open.Load() == 0 }) {
		t.Fatalf("%d upstream connections still open after Close", open.Load())
	}
}

// TestLocalErrorsNeverEject: breaker overflow, client cancellations and unreadable client bodies are local
// outcomes; even with ejection after a single failure, none ejects.
func TestLocalErrorsNeverEject(t *testing.T) {
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer be.Close()
	defer close(release)
	pool := poolOf(t, be.URL)
	o := newOutlier(t, pool, balancer.OutlierConfig{Consecutive: 1})
	br := newBreaker(t, o, balancer.BreakerConfig{MaxInFlight: 1})
	px := newTestProxy(t, br, Config{})

	// One request holds the only slot; 20 more overflow the breaker.
	holdCtx, holdCancel := context.WithCancel(context.Background())
	held := make(chan int, 1)
	go func() { held <- serve(px, httptest.NewRequest("GET", "/", nil).WithContext(holdCtx)).Code }()
	if !waitFor(2*time.Second, func() bool { return br.InFlight(pool.Targets()[0]) == 1 }) {
		t.Fatal("first request not in flight")
	}
	for range 20 {
		if rec := serve(px, httptest.NewRequest("GET", "/", nil)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("overflow status %d, want 503", rec.Code)
		}
	}
	holdCancel() // the client goes away
	if code := <-held; code != problem.StatusClientClosedRequest {
		t.Fatalf("cancelled request status %d, want 499", code)
	}
	// Clients that cancel, and clients whose bodies cannot be read.
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		serve(px, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		cancel()
		req := httptest.NewRequest("POST", "/", failingReader{})
		req.ContentLength = 10
		if rec := serve(px, req); rec.Code != http.StatusBadRequest {
			t.Fatalf("unreadable body status %d, want 400", rec.Code)
		}
	}
	if n := o.Stats().Ejections; n != 0 || pool.Available() != 1 {
		t.Fatalf("%d ejections (available %d) from local outcomes only", n, pool.Available())
	}
}

func TestFullBreakerAnswers503WithoutReachingTarget(t *testing.T) {
	be, arrived := stallingBackend(t)
	b := newBreaker(t, balancer.NewRoundRobin(poolOf(t, be.URL)), balancer.BreakerConfig{MaxInFlight: 1})
	px := newTestProxy(t, b, Config{})
	first := make(chan int, 1)
	go func() { first <- serve(px, httptest.NewRequest("GET", "/", nil)).Code }()
	<-arrived
	start := time.Now()
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") != "1" || time.Since(start) > time.Second {
		t.Fatal("a full target must be answered with a quick 503 and Retry-After")
	}
	select {
	case <-arrived:
		t.Fatal("the rejected request reached the backend")
	default:
	}
	be.CloseClientConnections()
	<-first
}

// listenSamePort starts HTTP servers answering their name on 127.0.0.2
// and 127.0.0.3 with one port number.
func listenSamePort(t *testing.T) (port int) {
	t.Helper()
	for range 20 {
		l2, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("127.0.0.2 not bindable: %v", err)
		}
		port = l2.Addr().(*net.TCPAddr).Port
		l3, err := net.Listen("tcp", net.JoinHostPort("127.0.0.3", strconv.Itoa(port)))
		if err != nil {
			l2.Close()
			continue
		}
		for name, l := range map[string]net.Listener{"old": l2, "new": l3} {
			s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, name)
			}))
			s.Listener.Close()
			s.Listener = l
			s.Start()
			t.Cleanup(s.Close)
		}
		return port
	}
	t.Skip("no common free port on 127.0.0.2 and 127.0.0.3")
	return 0
}

// TestDNSAddressChangeFollowedAndOldTargetDrained: the name moves from 127.0.0.2 to 127.0.0.3; requests follow at the next refresh with
// no error, the old target is drained, and a failing resolver changes
// nothing.
func TestDNSAddressChangeFollowedAndOldTargetDrained(t *testing.T) {
	port := listenSamePort(t)
	pool, _ := balancer.NewPool(nil)
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{})
	fr := &fakeResolver{}
	fr.set(nil, "127.0.0.2")
	drained := make(chan error, 1)
	d, err := balancer.NewDNS(pool, balancer.DNSConfig{Name: "api.test", Port: port, LookupNetIP: fr.lookupIP,
		OnRemove: func(tg *balancer.Target) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				drained <- px.Drain(ctx, tg)
			}()
		}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		rec := serve(px, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		return rec.Body.String()
	}
	if err := d.RefreshAt(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "old" {
		t.Fatalf("before the change: %q", got)
	}
	fr.set(nil, "127.0.0.3")
	if err := d.RefreshAt(context.Background(), t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if got := get(); got != "new" {
			t.Fatalf("after the change: %q", got)
		}
	}
	select {
	case err := <-drained:
		if err != nil {
			t.Fatalf("drain of the old address: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("old target not drained")
	}
	fr.set(errors.New("SERVFAIL"))
	d.RefreshAt(context.Background(), t0.Add(10*time.Second))
	for range 5 {
		if got := get(); got != "new" {
			t.Fatalf("during resolver failure: %q", got)
		}
	}
}

// TestOnlyNeverReachedFailuresRetryAnyMethod: faults that prove the request never reached the target are retried for every
// method; faults after the request went out only for idempotent ones.
func TestOnlyNeverReachedFailuresRetryAnyMethod(t *testing.T) {
	untrusted := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a request got through a failed TLS handshake")
	}))
	defer untrusted.Close()
	notTLS := rawBackend(t, func(c net.Conn, br *bufio.Reader) { io.WriteString(c, "SSH-2.0-nope\r\n") })
	faults := []struct {
		name         string
		url          func(t *testing.T) string
		neverReached bool
	}{
		{"dial refused", func(t *testing.T) string { return deadAddr(t) }, true},
		{"TLS certificate rejected", func(t *testing.T) string { return untrusted.URL }, true},
		{"TLS handshake garbage", func(t *testing.T) string { return strings.Replace(notTLS, "http:", "https:", 1) }, true},
		{"RST after the request", func(t *testing.T) string { return newFaultBackend(t, "bad", modeReset).URL }, false},
		{"FIN without a response", func(t *testing.T) string { return newFaultBackend(t, "bad", modeFIN).URL }, false},
	}
	methods := []struct {
		method, key string
		idempotent  bool
	}{
		{"GET", "", true},
		{"HEAD", "", true},
		{"POST", "", false},
		{"PUT", "idem-1", true}, // the route opts in to Idempotency-Key
	}
	for _, f := range faults {
		for _, m := range methods {
			t.Run(f.name+"/"+m.method, func(t *testing.T) {
				good := newFaultBackend(t, "good", modeOK)
				px := newTestProxy(t, &firstThen{pool: poolOf(t, f.url(t), good.URL)},
					Config{Retry: fastRetry(RetryConfig{IdempotencyKey: true})})
				var body io.Reader
				if m.method == "POST" || m.method == "PUT" {
					body = strings.NewReader("payload")
				}
				req := httptest.NewRequest(m.method, "/r3", body)
				req.Header.Set("X-Req-ID", "id")
				if m.key != "" {
					req.Header.Set("Idempotency-Key", m.key)
				}
				rec := serve(px, req)
				wantRetry := f.neverReached || m.idempotent
				if wantRetry && (rec.Code != 200 || good.count("id") != 1) {
					t.Fatalf("status %d, good arrivals %d: want a retry on the healthy backend", rec.Code, good.count("id"))
				}
				if !wantRetry && (rec.Code != http.StatusBadGateway || good.count("id") != 0) {
					t.Fatalf("status %d, good arrivals %d: a maybe-reached %s must not be re-sent", rec.Code, good.count("id"), m.method)
				}
			})
		}
	}
}

// churnBackend answers by the number at the end of the request's X-Req-ID:
// in full, in flushed parts, with a large body, with 503, or with a reset
// before or in the middle of the response. Whole answers carry X-Echo (the
// ID) and the body churnBody gives.
func churnBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Req-ID")
		n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
		body, _ := io.ReadAll(r.Body)
		switch n % 7 {
		case 1:
			resetConn(w)
			return
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case 4: // a reset after part of a declared body
			w.Header().Set("Content-Length", "100000")
			w.Header().Set("X-Echo", id)
			_, _ = io.WriteString(w, id)
			w.(http.Flusher).Flush()
			resetConn(w)
			return
		}
		w.Header().Set("X-Echo", id)
		want := churnBody(n, id, string(body))
		if n%7 == 3 { // flushed in three parts
			third := len(want) / 3
			for _, part := range []string{want[:third], want[third : 2*third], want[2*third:]} {
				_, _ = io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
			return
		}
		_, _ = io.WriteString(w, want)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// churnBody is the body churnBackend answers request n (of id, which
// sent body) with in full.
func churnBody(n int, id, body string) string {
	switch n % 7 {
	case 3:
		return strings.Repeat(id, 3)
	case 5:
		return strings.Repeat(id, 3000) // past every buffer on the way
	}
	return id + "|" + body
}

// TestResponsesNeverCrossUnderChurn: many clients at once, some of them
// giving up before or after the response's head, against backends that
// answer, fail, reset or stream by request. The proxy uses records again
// for the next request; none may carry one request's answer to another:
// every 200 is the request's own, with the X-Echo and body its backend
// sent (a body cut by a reset is a prefix of it), and every other answer
// is the proxy's error.
// Through the pool of synchronous connections, through http.Transport
// (which a MaxConnsPerHost selects), and with a stream idle timeout.
func TestResponsesNeverCrossUnderChurn(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"pool", Config{}},
		{"transport", Config{TransportConfig: TransportConfig{MaxConnsPerHost: 1 << 20}}},
		{"stream idle timeout", Config{StreamIdleTimeout: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b1, b2 := churnBackend(t), churnBackend(t)
			tc.cfg.Retry = fastRetry(RetryConfig{})
			churn(t, newTestProxy(t, balancer.NewRoundRobin(poolOf(t, b1.URL, b2.URL)), tc.cfg))
		})
	}
}

// churn sends TestResponsesNeverCrossUnderChurn's load through px, in
// front of two churnBackends, and reports every answer that is not its
// request's own or an error.
func churn(t *testing.T, px *Proxy) {
	front := httptest.NewServer(px)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	const n, workers = 700, 16
	var mu sync.Mutex
	var problems []string
	fail := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	spread(n, workers, func(i int) {
		id := reqID("c", i)
		method, sent := "GET", ""
		var body io.Reader
		if i%2 == 1 {
			method, sent = "POST", "payload-"+id
			body = strings.NewReader(sent)
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, method, front.URL+"/x", body)
		req.Header.Set("X-Req-ID", id)
		if i%11 == 0 {
			go cancel() // gives up at once, before or during the exchange
		}
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			// A reset in the middle of the body aborts the client's
			// response: its connection closes, with the head still in
			// the server's buffer or not.
			if i%11 != 0 && i%7 != 4 {
				fail("%s: %v", id, err)
			}
			return
		}
		if i%13 == 0 {
			cancel() // gives up after the head, the body unread
		}
		got, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		switch resp.StatusCode {
		case http.StatusOK:
			want := churnBody(i, id, sent)
			if i%7 == 4 {
				want = id // then the reset
			}
			if echo := resp.Header.Get("X-Echo"); echo != id {
				fail("%s: 200 with X-Echo %q", id, echo)
			}
			if !strings.HasPrefix(want, string(got)) || (rerr == nil && i%7 != 4 && string(got) != want) {
				fail("%s: 200 with a body of %d bytes that is not its own (%.40q)", id, len(got), got)
			}
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if resp.Header.Get("X-Echo") != "" && resp.Header.Get("X-Echo") != id {
				fail("%s: %d with X-Echo %q", id, resp.StatusCode, resp.Header.Get("X-Echo"))
			}
		default:
			if i%11 != 0 && i%13 != 0 {
				fail("%s: status %d", id, resp.StatusCode)
			}
		}
	})
	for _, p := range problems {
		t.Error(p)
	}
}
