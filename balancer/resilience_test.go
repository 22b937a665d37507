package balancer

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/problem"
	"go.uber.org/goleak"
)

// pickWatch wraps a policy and counts picks of a watched target made
// after the outlier detector had already ejected it.
type pickWatch struct {
	Policy
	o       *Outlier
	watched *Target
	late    atomic.Int64
}

func (w *pickWatch) Pick(_ context.Context, key string) (*Target, func(Result), error) {
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
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if before != nil {
					before(i)
				}
				body := ""
				if method == "POST" {
					body = "p"
				}
				codes[i] = sendReq(h, method, reqID("r", i), body).Code
			}
		}()
	}
	wg.Wait()
	return codes
}

func TestResilienceBackendKilledUnderGETLoad(t *testing.T) {
	b := []*faultBackend{newFaultBackend(t, "b1", modeOK), newFaultBackend(t, "b2", modeOK), newFaultBackend(t, "b3", modeOK)}
	pool := poolOf(t, b[0].URL, b[1].URL, b[2].URL)
	o := newOutlier(t, pool, OutlierConfig{})
	watch := &pickWatch{Policy: o.Wrap(NewRoundRobin(pool)), o: o, watched: pool.Targets()[1]}
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
	Policy
	watched *Target
	dead    atomic.Bool
	mu      sync.Mutex
	ids     []string
}

func (d *deadPicks) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	t, done, err := d.Policy.Pick(context.Background(), key)
	if err == nil && t == d.watched && d.dead.Load() {
		d.mu.Lock()
		d.ids = append(d.ids, key)
		d.mu.Unlock()
	}
	return t, done, err
}

// TestResilienceDyingBackendPOSTsNeverDuplicated: b2 first reads POSTs and
// resets (they may have been processed: 502, never re-sent), then is
// killed before the outlier detector ejects it, so that POSTs picked for
// it fail to dial: those never reached it and are retried elsewhere.
func TestResilienceDyingBackendPOSTsNeverDuplicated(t *testing.T) {
	b := []*faultBackend{newFaultBackend(t, "b1", modeOK), newFaultBackend(t, "b2", modeOK), newFaultBackend(t, "b3", modeOK)}
	pool := poolOf(t, b[0].URL, b[1].URL, b[2].URL)
	o := newOutlier(t, pool, OutlierConfig{Consecutive: 30})
	watch := &deadPicks{Policy: o.Wrap(NewRoundRobin(pool)), watched: pool.Targets()[1]}
	px, err := NewProxy(watch, Config{Retry: fastRetry(RetryConfig{}),
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

// TestResilienceAllBackendsDown runs with default settings everywhere:
// every backend refuses connections, and every client gets a 503 with
// Retry-After at once, before and after ejections and panic mode.
func TestResilienceAllBackendsDown(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			pool := poolOf(t, deadAddr(t), deadAddr(t), deadAddr(t))
			o := newOutlier(t, pool, OutlierConfig{})
			px := newTestProxy(t, o.Wrap(NewRoundRobin(pool)), Config{})
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
			if o.Ejections() == 0 {
				t.Fatal("no target was ejected")
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("all-down requests took %v: want fast failure, no hang", el)
			}
		})
	}
}

// TestResiliencePanicSkipsCheckedDown: panic mode puts ejected targets
// back in rotation, never those active health checks hold down. With
// every target failing its checks, picks fail fast (503, Retry-After)
// rather than reaching (or waiting on) targets known to be down.
func TestResiliencePanicSkipsCheckedDown(t *testing.T) {
	a, b := newFaultBackend(t, "a", modeOK), newFaultBackend(t, "b", modeOK)
	pool := poolOf(t, a.URL, b.URL)
	o := newOutlier(t, pool, OutlierConfig{})
	px := newTestProxy(t, o.Wrap(NewRoundRobin(pool)), Config{})
	ts := pool.Targets()
	o.setChecked(ts[0], false)
	o.setChecked(ts[1], false)
	if !o.Panicking() {
		t.Fatal("every target checked down, and no panic")
	}
	rec := sendReq(px, "GET", "cd", "")
	checkProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" || a.total.Load()+b.total.Load() != 0 {
		t.Fatalf("Retry-After %q, arrivals %d: want a 503 with Retry-After and no arrival",
			rec.Header().Get("Retry-After"), a.total.Load()+b.total.Load())
	}
	o.setChecked(ts[1], true)
	if rec := sendReq(px, "GET", "cd2", ""); rec.Code != 200 || b.count("cd2") != 1 {
		t.Fatalf("after one target passes again: status %d, arrivals at it %d", rec.Code, b.count("cd2"))
	}
}

func TestResilienceConnectionsBackToBaseline(t *testing.T) {
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
	px, err := NewProxy(NewRoundRobin(poolOf(t, be.URL)), Config{})
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

// TestResilienceLocalErrorsNeverEject is RELIABILITY.md R11: breaker
// overflow, client cancellations and unreadable client bodies are local
// outcomes; even with ejection after a single failure, none ejects.
func TestResilienceLocalErrorsNeverEject(t *testing.T) {
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
	o := newOutlier(t, pool, OutlierConfig{Consecutive: 1})
	br := newBreaker(t, o.Wrap(NewRoundRobin(pool)), BreakerConfig{MaxInFlight: 1})
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
	if n := o.Ejections(); n != 0 || pool.Available() != 1 {
		t.Fatalf("%d ejections (available %d) from local outcomes only", n, pool.Available())
	}
}
