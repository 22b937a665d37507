package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

func mustConcurrency(t *testing.T, cfg ConcurrencyConfig) *Concurrency {
	t.Helper()
	c, err := NewConcurrency(cfg)
	if err != nil {
		t.Fatalf("NewConcurrency(%+v): %v", cfg, err)
	}
	return c
}

func TestNewConcurrencyInvalid(t *testing.T) {
	for _, cfg := range []ConcurrencyConfig{
		{}, {Max: -1}, {Max: 1, Mode: 5}, {Max: 1, MaxWait: -1}, {Max: 1, MaxQueue: -1},
		{Max: 1, MaxKeys: -1}, {Max: 1, RetryAfter: -1}, {Max: 1, Name: "\x01"}, {Max: 1, Headers: -1}, {Max: 1, MaxQueue: 1 << 15},
	} {
		if _, err := NewConcurrency(cfg); err == nil {
			t.Errorf("NewConcurrency(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestConcurrencyReject(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 2, MaxKeys: 2})
	if !c.TryAcquire("a") || !c.TryAcquire("a") {
		t.Fatal("slots not granted")
	}
	if c.TryAcquire("a") {
		t.Fatal("third slot granted")
	}
	err := c.Acquire(context.Background(), "a")
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrConcurrency) || le.RetryAfter != time.Second {
		t.Fatalf("Acquire over Max = %v", err)
	}
	if !c.TryAcquire("b") || c.TryAcquire("c") {
		t.Fatal("MaxKeys not enforced (a and b are in flight)")
	}
	c.Release("a")
	if c.InFlight("a") != 1 || !c.TryAcquire("a") {
		t.Fatal("released slot not reusable")
	}
	for _, k := range []string{"a", "a", "b", "unknown"} {
		c.Release(k)
	}
	if st := c.Stats(); st.Keys != 0 || st.Allowed != 4 || st.Rejected != 3 {
		t.Errorf("Stats = %+v, want no keys left, 4 allowed, 3 rejected", st)
	}
	d := mustConcurrency(t, ConcurrencyConfig{Max: 1, DryRun: true})
	if !d.TryAcquire("k") || !d.TryAcquire("k") || d.Stats().LimitedDryRun != 1 {
		t.Errorf("dry run: %+v", d.Stats())
	}
}

// waitConcQueued spins until key has n queued requests; it fails the test
// rather than hang if that takes over 10s.
func waitConcQueued(t *testing.T, c *Concurrency, key string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.Queued(key) < n; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests of %q queued after 10s, want %d", c.Queued(key), key, n)
		}
	}
}

func TestConcurrencyQueue(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, Mode: Queue, MaxQueue: 3, MaxWait: time.Minute})
	ctx := context.Background()
	if err := c.Acquire(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Acquire(ctx, "k"); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
			c.Release("k")
		}()
		waitConcQueued(t, c, "k", i+1)
	}
	if err := c.Acquire(ctx, "k"); !errors.Is(err, ErrQueueFull) {
		t.Errorf("fourth waiter: %v, want ErrQueueFull", err)
	}
	if st := c.Stats(); st.InFlight != 1 || st.Waiting != 3 {
		t.Errorf("gauges = %+v, want 1 in flight, 3 waiting", st)
	}
	c.Release("k") // hands the slot down the queue in order
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Errorf("granted %d, want %d (FIFO)", i, want)
		}
		want++
	}
	if st := c.Stats(); st.Keys != 0 || st.Queued != 3 || st.QueueRejected != 1 || st.InFlight != 0 || st.Waiting != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestConcurrencyQueueCancelAndMaxWait(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, Mode: Queue, MaxWait: time.Hour})
	c.TryAcquire("k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Acquire(ctx, "k") }()
	waitConcQueued(t, c, "k", 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire = %v", err)
	}
	if c.Queued("k") != 0 || c.InFlight("k") != 1 {
		t.Fatalf("after cancel: queued %d in flight %d", c.Queued("k"), c.InFlight("k"))
	}
	c.Release("k")
	if c.Stats().Keys != 0 {
		t.Error("entry leaked after cancel and release")
	}
	short := mustConcurrency(t, ConcurrencyConfig{Max: 1, Mode: Queue, MaxWait: time.Millisecond})
	short.TryAcquire("k")
	if err := short.Acquire(context.Background(), "k"); !errors.Is(err, ErrMaxWait) {
		t.Errorf("Acquire past MaxWait = %v", err)
	}
	short.Release("k")
	if st := short.Stats(); st.Keys != 0 || st.QueueExpired != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestConcurrencyMiddleware(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, Name: "inflight"})
	entered, release := make(chan struct{}), make(chan struct{})
	h := ConcurrencyMiddleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
	}))
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/slow", nil))
		done <- rec.Code
	}()
	<-entered
	rec := serve(h, "")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("second request: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	pol := sfItems(t, rec.Header(), "RateLimit-Policy")
	if qu, _ := pol[0].param("qu"); pol[0].val != "inflight" || qu != "concurrency" || intParam(t, pol[0], "q") != 1 {
		t.Errorf("RateLimit-Policy = %q", rec.Header().Get("RateLimit-Policy"))
	}
	if rec := serve(h, "203.0.113.1:1"); rec.Code != 200 {
		t.Errorf("other client: %d", rec.Code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("slow request: %d", code)
	}
	if c.InFlight("192.0.2.1") != 0 {
		t.Error("slot not released after the handler returned")
	}
}

// TestConcurrencyDryRunFullTable checks that dry-run never rejects, even
// when the key table is full: the extra key is admitted untracked and
// counted, and its Release leaves the tracked keys alone.
func TestConcurrencyDryRunFullTable(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, MaxKeys: 1, DryRun: true, Mode: Queue})
	if !c.TryAcquire("a") {
		t.Fatal("first key refused")
	}
	if !c.TryAcquire("b") {
		t.Fatal("dry run refused a key over MaxKeys")
	}
	if err := c.Acquire(context.Background(), "b"); err != nil {
		t.Fatalf("dry-run Acquire over MaxKeys = %v, want nil", err)
	}
	if st := c.Stats(); st.Rejected != 0 || st.LimitedDryRun != 2 || st.Keys != 1 || st.InFlight != 1 {
		t.Errorf("Stats = %+v, want 0 rejected, 2 dry-run limited, key a alone in flight", st)
	}
	c.Release("b")
	c.Release("b")
	if n := c.InFlight("a"); n != 1 {
		t.Errorf("InFlight(a) = %d after releasing b, want 1", n)
	}
}

// BenchmarkConcurrencyAcquireRelease is one TryAcquire/Release pair on a
// hot key.
func BenchmarkConcurrencyAcquireRelease(b *testing.B) {
	c, err := NewConcurrency(ConcurrencyConfig{Max: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	c.TryAcquire("hot") // keep the entry alive
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.TryAcquire("hot") {
				c.Release("hot")
			}
		}
	})
}

// TestConcurrencyTicketMaxWaitAtInjectedTime drives queued tickets with
// explicit times: a slot freed by Release goes to the head, a ticket
// still queued at its reservation time + MaxWait leaves the queue with
// ErrMaxWait, and a cancelled admitted ticket passes its slot on.
func TestConcurrencyTicketMaxWaitAtInjectedTime(t *testing.T) {
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, Mode: Queue, MaxWait: 2 * time.Second})
	if tk, err := c.ReserveAt("k", t0); tk != nil || err != nil {
		t.Fatalf("first ReserveAt = %v, %v; want a slot at once", tk, err)
	}
	a, err := c.ReserveAt("k", t0)
	if a == nil || err != nil {
		t.Fatalf("second ReserveAt = %v, %v; want a ticket", a, err)
	}
	b, _ := c.ReserveAt("k", t0.Add(time.Second))
	if ok, wait, err := a.PollAt(t0.Add(500 * time.Millisecond)); ok || err != nil || wait != 1500*time.Millisecond {
		t.Fatalf("a.PollAt(t0+500ms) = %v, %v, %v; want waiting 1.5s more", ok, wait, err)
	}
	if _, _, err := a.PollAt(t0.Add(2 * time.Second)); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("a.PollAt(t0+2s) = %v, want ErrMaxWait", err)
	}
	c.Release("k") // b is the head now and gets the slot
	select {
	case <-b.Ready():
	default:
		t.Fatal("b was not signalled")
	}
	if ok, _, err := b.PollAt(t0.Add(10 * time.Second)); !ok || err != nil {
		t.Fatalf("b.PollAt after its slot came = %v, %v; want ok even past its deadline", ok, err)
	}
	d, _ := c.ReserveAt("k", t0.Add(10*time.Second))
	b.Cancel() // b gives its slot back: it passes to d
	if ok, _, err := d.PollAt(t0.Add(10 * time.Second)); !ok || err != nil {
		t.Fatalf("d.PollAt = %v, %v; want the slot b gave back", ok, err)
	}
	if _, _, err := b.PollAt(t0.Add(10 * time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("b.PollAt after Cancel = %v, want context.Canceled", err)
	}
	c.Release("k")
	if st := c.Stats(); st.Keys != 0 || st.QueueExpired != 1 || st.Cancelled != 1 || st.InFlight != 0 || st.Waiting != 0 {
		t.Errorf("Stats = %+v, want no keys, 1 expired, 1 cancelled", st)
	}
}

// TestConcurrencyHeadersMergeWithRateLimiter checks that a concurrency
// rejection behind a rate-limiting Middleware lists both policies in
// RateLimit-Policy and both states in RateLimit, instead of replacing
// the rate limiter's.
func TestConcurrencyHeadersMergeWithRateLimiter(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{PerMinute(10)}})
	c := mustConcurrency(t, ConcurrencyConfig{Max: 1, Name: "inflight"})
	entered, release := make(chan struct{}), make(chan struct{})
	h := Middleware(l)(ConcurrencyMiddleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
	})))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
	}()
	<-entered
	rec := serve(h, "")
	close(release)
	<-done
	if rec.Code != 429 {
		t.Fatalf("second request: %d, want 429 from the concurrency limiter", rec.Code)
	}
	var names []string
	for _, it := range sfItems(t, rec.Header(), HeaderRateLimitPolicy) {
		names = append(names, it.val.(string))
	}
	if len(names) != 2 || names[0] != "10/m" || names[1] != "inflight" {
		t.Errorf("RateLimit-Policy = %q, want the rate policy then the concurrency policy", rec.Header().Get(HeaderRateLimitPolicy))
	}
	st := sfItems(t, rec.Header(), HeaderRateLimit)
	if len(st) != 2 || st[0].val != "10/m" || intParam(t, st[0], "r") != 8 || st[1].val != "inflight" || intParam(t, st[1], "r") != 0 {
		t.Errorf("RateLimit = %q, want 10/m with r=8 then inflight with r=0", rec.Header().Get(HeaderRateLimit))
	}
}
