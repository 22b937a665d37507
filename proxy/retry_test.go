package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// fastRetry is a RetryConfig with a negligible back-off for tests.
func fastRetry(c RetryConfig) RetryConfig {
	c.BackoffBase = time.Microsecond
	c.BackoffCap = time.Millisecond
	return c
}

func sendReq(h http.Handler, method, id, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/x", rd)
	req.Header.Set("X-Req-ID", id)
	return serve(h, req)
}

func TestRetryNeverReachedAnyMethod(t *testing.T) {
	good := newFaultBackend(t, "good", modeOK)
	pool := poolOf(t, deadAddr(t), good.URL)
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{Retry: fastRetry(RetryConfig{})})
	for i := range 20 {
		id := reqID("post", i)
		rec := sendReq(px, "POST", id, "payload-"+id)
		if rec.Code != 200 {
			t.Fatalf("POST %s: status %d, want 200 (dial failures are retried)", id, rec.Code)
		}
		if got := good.body(id); got != "payload-"+id {
			t.Fatalf("POST %s: backend read body %q", id, got)
		}
		if n := good.count(id); n != 1 {
			t.Fatalf("POST %s arrived %d times", id, n)
		}
	}
}

func TestRetryPOSTThatReachedIsNeverResent(t *testing.T) {
	bad := newFaultBackend(t, "bad", modeReset)
	good := newFaultBackend(t, "good", modeOK)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, bad.URL, good.URL)), Config{Retry: fastRetry(RetryConfig{})})
	failed := 0
	for i := range 20 {
		id := reqID("post", i)
		rec := sendReq(px, "POST", id, "b")
		if rec.Code != 200 {
			failed++
			if rec.Code != http.StatusBadGateway {
				t.Errorf("POST %s: status %d, want 200 or 502", id, rec.Code)
			}
		}
		if n := bad.count(id) + good.count(id); n != 1 {
			t.Fatalf("POST %s arrived %d times, want exactly once", id, n)
		}
		if (rec.Code == 502) != (bad.count(id) == 1) {
			t.Fatalf("POST %s: status %d but bad backend arrivals %d", id, rec.Code, bad.count(id))
		}
	}
	if failed == 0 {
		t.Fatal("no POST went to the resetting backend")
	}
}

func TestRetryIdempotentOnResetAnd5xx(t *testing.T) {
	for _, mode := range []faultMode{modeReset, mode503} {
		t.Run(string(mode), func(t *testing.T) {
			bad := newFaultBackend(t, "bad", mode)
			good := newFaultBackend(t, "good", modeOK)
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, bad.URL, good.URL)), Config{Retry: fastRetry(RetryConfig{})})
			for i := range 20 {
				id := reqID("get", i)
				rec := sendReq(px, "GET", id, "")
				if rec.Code != 200 || rec.Body.String() != "good:"+id {
					t.Fatalf("GET %s: %d %q, want 200 from good", id, rec.Code, rec.Body.String())
				}
				if b, g := bad.count(id), good.count(id); b > 1 || g != 1 {
					t.Fatalf("GET %s arrivals bad=%d good=%d", id, b, g)
				}
			}
		})
	}
}

func TestRetryMethodOptIns(t *testing.T) {
	cases := []struct {
		name   string
		method string
		header string
		cfg    RetryConfig
		want   int
	}{
		{"POST not idempotent", "POST", "", RetryConfig{}, 502},
		{"PUT without opt-in", "PUT", "", RetryConfig{}, 502},
		{"PUT with opt-in", "PUT", "", RetryConfig{PutDelete: true}, 200},
		{"DELETE with opt-in", "DELETE", "", RetryConfig{PutDelete: true}, 200},
		{"POST with key, no opt-in", "POST", "k1", RetryConfig{}, 502},
		{"POST with key and opt-in", "POST", "k1", RetryConfig{IdempotencyKey: true}, 200},
		{"POST opt-in without key", "POST", "", RetryConfig{IdempotencyKey: true}, 502},
		{"retries disabled", "GET", "", RetryConfig{Retries: -1}, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := newFaultBackend(t, "bad", modeReset)
			good := newFaultBackend(t, "good", modeOK)
			pool := poolOf(t, bad.URL, good.URL)
			px := newTestProxy(t, &firstThen{pool: pool}, Config{Retry: fastRetry(tc.cfg)})
			req := httptest.NewRequest(tc.method, "/x", strings.NewReader("body"))
			req.Header.Set("X-Req-ID", "r")
			if tc.header != "" {
				req.Header.Set("Idempotency-Key", tc.header)
			}
			rec := serve(px, req)
			if rec.Code != tc.want {
				t.Fatalf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
			}
			if tc.want == 200 && good.body("r") != "body" {
				t.Fatalf("replayed body %q, want %q", good.body("r"), "body")
			}
		})
	}
}

// firstThen picks the pool's first target, then the others in order: a
// deterministic policy for retry tests. It picks a named target through a
// Sticky policy, which counts it in flight as any policy does.
type firstThen struct {
	pool *balancer.Pool
	mu   sync.Mutex
	n    int
	pin  *balancer.Sticky
}

func (f *firstThen) Pick(ctx context.Context, _ string) (*balancer.Target, func(balancer.Result), error) {
	f.mu.Lock()
	ts := f.pool.Targets()
	if len(ts) == 0 {
		f.mu.Unlock()
		return nil, nil, balancer.ErrNoTargets
	}
	t := ts[f.n%len(ts)]
	f.n++
	if f.pin == nil {
		f.pin, _ = balancer.NewSticky(f.pool, balancer.NewRoundRobin(f.pool), balancer.StickyConfig{})
	}
	pin := f.pin
	f.mu.Unlock()
	return pin.Pick(ctx, pin.Token(t))
}

func TestRetryIdempotencyKeyForwardedButHidden(t *testing.T) {
	var got []string
	var mu sync.Mutex
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	}))
	defer be.Close()
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{})
	req := httptest.NewRequest("POST", "/", strings.NewReader("x"))
	req.Header.Set("Idempotency-Key", "abc")
	if rec := serve(px, req); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if len(got) != 1 || got[0] != "abc" {
		t.Fatalf("backend saw Idempotency-Key %q, want [abc]", got)
	}
	if req.Header.Get("Idempotency-Key") != "abc" {
		t.Fatal("inbound request header was modified")
	}
}

func TestRetryBodyReplayLimits(t *testing.T) {
	big := strings.Repeat("z", 100)
	t.Run("streamed body read by a dying target is not replayed", func(t *testing.T) {
		bad := newFaultBackend(t, "bad", modeReset)
		good := newFaultBackend(t, "good", modeOK)
		px := newTestProxy(t, &firstThen{pool: poolOf(t, bad.URL, good.URL)},
			Config{Retry: fastRetry(RetryConfig{PutDelete: true, MaxBodyBytes: 16})})
		if rec := sendReq(px, "PUT", "p", big); rec.Code != 502 {
			t.Fatalf("status %d, want 502 (body over the replay limit was consumed)", rec.Code)
		}
		if good.count("p") != 0 {
			t.Fatal("request was re-sent with a partial body")
		}
	})
	t.Run("streamed body never read is sent after a dial failure", func(t *testing.T) {
		good := newFaultBackend(t, "good", modeOK)
		px := newTestProxy(t, &firstThen{pool: poolOf(t, deadAddr(t), good.URL)},
			Config{Retry: fastRetry(RetryConfig{MaxBodyBytes: 16})})
		if rec := sendReq(px, "POST", "p", big); rec.Code != 200 {
			t.Fatalf("status %d, want 200", rec.Code)
		}
		if good.body("p") != big {
			t.Fatalf("backend got %d bytes, want %d", len(good.body("p")), len(big))
		}
	})
	t.Run("chunked body within the limit is replayed in full", func(t *testing.T) {
		bad := newFaultBackend(t, "bad", modeReset)
		good := newFaultBackend(t, "good", modeOK)
		px := newTestProxy(t, &firstThen{pool: poolOf(t, bad.URL, good.URL)},
			Config{Retry: fastRetry(RetryConfig{PutDelete: true})})
		req := httptest.NewRequest("PUT", "/", io.MultiReader(strings.NewReader(big))) // unknown length
		req.ContentLength = -1
		req.Header.Set("X-Req-ID", "c")
		if rec := serve(px, req); rec.Code != 200 {
			t.Fatalf("status %d, want 200", rec.Code)
		}
		if bad.body("c") != big || good.body("c") != big {
			t.Fatalf("bodies %d/%d bytes, want %d", len(bad.body("c")), len(good.body("c")), len(big))
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("client sent a bad chunk") }

func TestRetryClientBodyErrorIsLocal(t *testing.T) {
	good := newFaultBackend(t, "good", modeOK)
	rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, good.URL))}
	px := newTestProxy(t, rp, Config{})
	req := httptest.NewRequest("POST", "/", failingReader{})
	req.ContentLength = 10
	rec := serve(px, req)
	checkProblem(t, rec, http.StatusBadRequest)
	if r := rp.last(t); r.Failed() {
		t.Fatalf("done(%+v): a client body error counted against the target", r)
	}
	if good.total.Load() != 0 {
		t.Fatal("a request with an unreadable body reached the backend")
	}
}

func TestRetryBackoffFullJitter(t *testing.T) {
	p, err := newRetryPolicy(RetryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		hi   time.Duration
		seen time.Duration
	}{{1, 25 * time.Millisecond, 0}, {2, 50 * time.Millisecond, 0}, {4, 200 * time.Millisecond, 0}, {5, 250 * time.Millisecond, 0}, {40, 250 * time.Millisecond, 0}} {
		var maxSeen time.Duration
		for range 2000 {
			d := p.backoff(tc.n)
			if d < 0 || d > tc.hi {
				t.Fatalf("backoff(%d) = %v, want in [0, %v]", tc.n, d, tc.hi)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < tc.hi/2 {
			t.Errorf("backoff(%d) never above %v in 2000 draws: not full jitter", tc.n, maxSeen)
		}
	}
	if _, err := newRetryPolicy(RetryConfig{BackoffCap: -1}); err == nil {
		t.Error("negative BackoffCap accepted")
	}
}

func TestRetryBudget(t *testing.T) {
	b := NewRetryBudget(0.2, 3)
	for range 20 {
		b.Begin()
	}
	got := 0
	for range 10 {
		if b.Acquire() {
			got++
		}
	}
	if got != 4 {
		t.Fatalf("with 20 active requests, %d retries allowed, want 4 (20%%)", got)
	}
	if b.Stats().Denied != 6 {
		t.Fatalf("Stats().Denied = %d, want 6", b.Stats().Denied)
	}
	for range 4 {
		b.Release()
	}
	for range 20 {
		b.End()
	}
	b.Begin()
	got = 0
	for range 5 {
		if b.Acquire() {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("with 1 active request, %d retries allowed, want the minimum 3", got)
	}
	if NewRetryBudget(-1, -1).Acquire() {
		t.Fatal("empty budget allowed a retry")
	}
}

func TestRetryTotalDeadline(t *testing.T) {
	s1, _ := stallingBackend(t)
	s2, _ := stallingBackend(t)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, s1.URL, s2.URL)),
		Config{Timeout: 150 * time.Millisecond, Retry: fastRetry(RetryConfig{})})
	start := time.Now()
	rec := serve(px, httptest.NewRequest("GET", "/", nil))
	checkProblem(t, rec, http.StatusGatewayTimeout)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v with a 150ms total deadline", el)
	}
}

func TestRetryHeaderTimeoutRetriedForGET(t *testing.T) {
	s1, _ := stallingBackend(t)
	good := newFaultBackend(t, "good", modeOK)
	px := newTestProxy(t, &firstThen{pool: poolOf(t, s1.URL, good.URL)}, Config{
		TransportConfig: TransportConfig{ResponseHeaderTimeout: 50 * time.Millisecond},
		Retry:           fastRetry(RetryConfig{}),
	})
	rec := sendReq(px, "GET", "g", "")
	if rec.Code != 200 || good.count("g") != 1 {
		t.Fatalf("status %d, good arrivals %d: per-try header timeout should move a GET on", rec.Code, good.count("g"))
	}
}

func TestRetryNeverToTheSameTarget(t *testing.T) {
	bad := newFaultBackend(t, "bad", mode503)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, bad.URL)), Config{Retry: fastRetry(RetryConfig{Retries: 3})})
	rec := sendReq(px, "GET", "one", "")
	if rec.Code != 503 || bad.count("one") != 1 {
		t.Fatalf("status %d, arrivals %d: a lone target must not be retried", rec.Code, bad.count("one"))
	}
}

func TestRetryStormStaysWithinBudget(t *testing.T) {
	const n = 40 // concurrent requests; budget 20% of 40 = 8 retries
	var (
		arrivals sync.WaitGroup
		mu       sync.Mutex
		count    int
	)
	arrivals.Add(n)
	release := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		count++
		c := count
		mu.Unlock()
		if c <= n {
			arrivals.Done()
			arrivals.Wait() // every first attempt is in flight at once
		} else {
			<-release // retries are held until the test has counted them
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	b1, b2 := httptest.NewServer(handler), httptest.NewServer(handler)
	defer b1.Close()
	defer b2.Close()
	budget := NewRetryBudget(0.2, 3)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, b1.URL, b2.URL)),
		Config{Retry: fastRetry(RetryConfig{Retries: 3, Budget: budget})})
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- serve(px, httptest.NewRequest("GET", "/", nil)).Code
		}()
	}
	// The denials follow the first attempts' answers, which all come at
	// once: wait for them (the deadline only bounds a failing run).
	ok := waitFor(time.Minute, func() bool { return budget.Stats().Denied >= n-8 })
	mu.Lock()
	got := count
	mu.Unlock()
	retries := budget.Stats().Retries
	close(release)
	wg.Wait()
	close(codes)
	if !ok {
		t.Fatalf("budget denied %d retries, want at least %d", budget.Stats().Denied, n-8)
	}
	if got > n+8 || retries > 8 {
		t.Fatalf("%d backend arrivals and %d retries in flight for %d requests, want at most %d and 8", got, retries, n, n+8)
	}
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want the backends' 503", c)
		}
	}
	if st := budget.Stats(); st.Requests != 0 || st.Retries != 0 {
		t.Fatalf("budget not back to zero: %d active, %d retries", st.Requests, st.Retries)
	}
}

// TestRetryPerTryAndTotalDeadlines: with slow targets, a GET is tried up to three times and answered 504 within
// the route deadline; a POST is tried once and answered 504 at the
// per-try timeout.
func TestRetryPerTryAndTotalDeadlines(t *testing.T) {
	var arrivals atomic.Int64
	slow := func() string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrivals.Add(1)
			<-r.Context().Done() // answers never; cancelled with each abandoned try
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	pool := poolOf(t, slow(), slow(), slow(), slow())
	px := newTestProxy(t, balancer.NewRoundRobin(pool), Config{
		Timeout:         400 * time.Millisecond,
		TransportConfig: TransportConfig{ResponseHeaderTimeout: 100 * time.Millisecond},
		Retry:           fastRetry(RetryConfig{Retries: 2}),
	})
	for _, tc := range []struct {
		method       string
		wantArrivals int64
		min, max     time.Duration
	}{
		{"GET", 3, 300 * time.Millisecond, 1500 * time.Millisecond},
		{"POST", 1, 100 * time.Millisecond, 1 * time.Second},
	} {
		arrivals.Store(0)
		start := time.Now()
		rec := sendReq(px, tc.method, "d", "")
		el := time.Since(start)
		checkProblem(t, rec, http.StatusGatewayTimeout)
		if n := arrivals.Load(); n != tc.wantArrivals {
			t.Fatalf("%s: %d tries, want %d", tc.method, n, tc.wantArrivals)
		}
		if el < tc.min || el > tc.max {
			t.Fatalf("%s: answered after %v, want within [%v, %v]", tc.method, el, tc.min, tc.max)
		}
	}
}
