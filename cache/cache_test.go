package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the fixed instant tests start at.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is a test backend counting its requests.
type origin struct {
	n    atomic.Int64
	last atomic.Pointer[http.Request]
	fn   func(w http.ResponseWriter, r *http.Request, n int64)
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.n.Add(1)
	o.last.Store(r)
	o.fn(w, r, n)
}

// fixture is a cache on a MemoryStore with a fake clock in front of an origin.
type fixture struct {
	t     *testing.T
	c     *Cache
	clk   *clock
	store *MemoryStore
	o     *origin
	h     http.Handler
}

// newFixture builds a fixture; fn answers upstream requests.
func newFixture(t *testing.T, cfg Config, fn func(w http.ResponseWriter, r *http.Request, n int64)) *fixture {
	t.Helper()
	clk := &clock{t: t0}
	cfg.Now = clk.Now
	store := NewMemoryStore(0, clk.Now)
	c, err := New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	o := &origin{fn: fn}
	return &fixture{t: t, c: c, clk: clk, store: store, o: o, h: Middleware(c)(o)}
}

// headers returns an origin that answers with the given header pairs and
// body "v<n>", n being the request number.
func headers(kv ...string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		if w.Header().Get("Date") == "" {
			w.Header().Set("Date", t0.Format(http.TimeFormat))
		}
		io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
	}
}

// do sends a request through the fixture; hdr are header pairs.
func (f *fixture) do(method, target string, hdr ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	return rec
}

// get is do("GET", ...) returning the body and the Cache-Status.
func (f *fixture) get(target string, hdr ...string) (body, status string) {
	f.t.Helper()
	rec := f.do(http.MethodGet, target, hdr...)
	return rec.Body.String(), ourStatus(rec.Header())
}

// ourStatus returns the last Cache-Status member (ours).
func ourStatus(h http.Header) string {
	v := h.Values("Cache-Status")
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// isHit reports whether a Cache-Status member says hit.
func isHit(status string) bool {
	return strings.Contains(status, "; hit")
}

// newRecorder is httptest.NewRecorder.
func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// step is one request in a scenario: advance the clock, send GET / with hdr,
// expect the body (v<n> for the origin's n-th response) and whether it hit.
type step struct {
	advance  time.Duration
	hdr      []string
	wantBody string
	wantHit  bool
}

func runSteps(t *testing.T, f *fixture, steps []step) {
	t.Helper()
	for i, s := range steps {
		f.clk.Add(s.advance)
		body, status := f.get("http://example.com/", s.hdr...)
		if body != s.wantBody || isHit(status) != s.wantHit {
			t.Fatalf("step %d (t0+%v, %q): body %q status %q, want body %q hit %v",
				i, f.clk.Now().Sub(t0), s.hdr, body, status, s.wantBody, s.wantHit)
		}
	}
}

func TestCloseCancelsBackgroundRevalidation(t *testing.T) {
	started := make(chan struct{})
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n > 1 {
			close(started)
			<-r.Context().Done() // a hung origin: only Close ends it
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		io.WriteString(w, "v1")
	})
	f.do("GET", "http://example.com/")
	f.clk.Add(2 * time.Second)
	if body, _ := f.get("http://example.com/"); body != "v1" {
		t.Fatalf("stale body %q", body)
	}
	<-started
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.c.Stats(); got.Stale != 1 || got.Revalidations != 0 || got.Misses != 2 {
		t.Fatalf("Stats = %+v", got)
	}
}

// TestWaitSafeDuringRefreshes: Wait may be called while requests start
// background refreshes (the race detector checks the bookkeeping). The
// bound on concurrent refreshes is above the 20 requests, so that every
// one of them starts its refresh however the goroutines are scheduled.
func TestWaitSafeDuringRefreshes(t *testing.T) {
	f := newFixture(t, Config{MaxRevalidations: 20}, headers("Cache-Control", "max-age=1, stale-while-revalidate=600"))
	for i := range 20 {
		f.get("http://example.com/" + itoa(time.Duration(i)*time.Second))
	}
	f.clk.Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(f.c.Wait)
		wg.Go(func() {
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/"+itoa(time.Duration(i)*time.Second), nil))
		})
	}
	wg.Wait()
	f.c.Wait()
	if n := f.o.n.Load(); n != 40 {
		t.Fatalf("origin saw %d requests, want 20 fills + 20 refreshes", n)
	}
}

func TestDefaultStoreAndClose(t *testing.T) {
	c, err := New(nil, Config{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	c.store.(*RistrettoStore).Wait()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !isHit(ourStatus(rec.Header())) {
		t.Fatalf("second request: %q, want a hit", ourStatus(rec.Header()))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if ourStatus(rec.Header()) != "gatekit; fwd=bypass; detail=closed" || rec.Body.String() != "x" {
		t.Fatalf("after Close: %q %q", ourStatus(rec.Header()), rec.Body)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{MaxBytes: -1}, {MaxObjectSize: -1}, {MaxRevalidations: -1}, {StaleRetention: -1},
		{StaleWhileRevalidate: -time.Second}, {RevalidateTimeout: -1}, {Name: "a b"}, {Name: `x"`},
		{Freshness: map[int]time.Duration{199: time.Second}}, {Freshness: map[int]time.Duration{200: 0}},
		// Freshness the cache would never use: 206 and 304 are never
		// stored, nor 404 and 410 when NegativeFreshness says never.
		{Freshness: map[int]time.Duration{206: time.Minute}}, {Freshness: map[int]time.Duration{304: time.Minute}},
		{Freshness: map[int]time.Duration{404: time.Minute}, NegativeFreshness: -1},
		{Freshness: map[int]time.Duration{410: time.Minute}, NegativeFreshness: -1},
		{TargetedCacheControl: "cache-control"}, {TargetedCacheControl: "CDN-Cache-Control"}, {TargetedCacheControl: "a b"},
	} {
		if c, err := New(NewMemoryStore(0, nil), cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// BenchmarkEngineGet measures the engine lookup alone.
func BenchmarkEngineGet(b *testing.B) {
	c, err := New(NewMemoryStore(0, nil), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, "GET http://example.com/", &Entry{Variants: []*Response{{Status: 200, Lifetime: 3600e9, ResponseTime: c.now()}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(ctx, "GET http://example.com/"); !ok {
			b.Fatal("miss")
		}
	}
}
