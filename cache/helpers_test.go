package cache

import (
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
