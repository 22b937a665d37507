package ratelimit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/reqinfo"
	"github.com/gatekit/gatekit/reqkey"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

func serve(h http.Handler, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/x", nil)
	if remote != "" {
		r.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// sfItems parses a header as an SF list or fails the test.
func sfItems(t *testing.T, h http.Header, name string) []sfItem {
	t.Helper()
	items, err := parseSFList(h.Get(name))
	if err != nil || len(items) == 0 {
		t.Fatalf("%s: %q does not parse as a Structured Fields list: %v", name, h.Get(name), err)
	}
	return items
}

func intParam(t *testing.T, it sfItem, k string) int64 {
	t.Helper()
	v, ok := it.param(k)
	n, isInt := v.(int64)
	if !ok || !isInt {
		t.Fatalf("item %v: parameter %q = %v, want an integer", it, k, v)
	}
	return n
}

func TestMiddlewareRejectAndHeaders(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{
		{Count: 1, Per: time.Hour, Burst: 2, Name: `per "hour"`},
		{Count: 10, Per: 500 * time.Millisecond, Burst: 10}, // 20/s: w must be whole seconds
	}})
	h := Middleware(l)(okHandler)
	for i, wantR := range []int64{1, 0} {
		rec := serve(h, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		pol := sfItems(t, rec.Header(), "RateLimit-Policy")
		if len(pol) != 2 || pol[0].val != `per "hour"` || pol[1].val != "10/500ms" {
			t.Fatalf("RateLimit-Policy = %q", rec.Header().Get("RateLimit-Policy"))
		}
		if q, w := intParam(t, pol[0], "q"), intParam(t, pol[0], "w"); q != 1 || w != 3600 {
			t.Errorf("policy 0 q=%d w=%d, want 1, 3600", q, w)
		}
		if q, w := intParam(t, pol[1], "q"), intParam(t, pol[1], "w"); q != 20 || w != 1 {
			t.Errorf("policy 1 q=%d w=%d, want 20, 1", q, w)
		}
		st := sfItems(t, rec.Header(), "RateLimit")
		if len(st) != 1 || st[0].val != `per "hour"` || intParam(t, st[0], "r") != wantR {
			t.Errorf("request %d: RateLimit = %q, want the hour policy with r=%d", i, rec.Header().Get("RateLimit"), wantR)
		}
		if tt := intParam(t, st[0], "t"); tt < 1799 || tt > 3600 {
			t.Errorf("request %d: t=%d, want the time to the next token", i, tt)
		}
		if rec.Header().Get("Retry-After") != "" {
			t.Errorf("Retry-After on an admitted response")
		}
	}
	rec := serve(h, "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("third request: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["status"] != 429.0 {
		t.Errorf("problem body %s: %v", rec.Body, err)
	}
	ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || ra < 3599 || ra > 3600 {
		t.Errorf("Retry-After = %q, want ~3600", rec.Header().Get("Retry-After"))
	}
	st := sfItems(t, rec.Header(), "RateLimit")
	if intParam(t, st[0], "r") != 0 || intParam(t, st[0], "t") != int64(ra) {
		t.Errorf("RateLimit on 429 = %q, want r=0 and t=Retry-After", rec.Header().Get("RateLimit"))
	}
	// Another client has its own bucket.
	if rec := serve(h, "203.0.113.9:5"); rec.Code != http.StatusOK {
		t.Errorf("other client: %d", rec.Code)
	}
}

func TestMiddlewareSeveralLimitersRefund(t *testing.T) {
	perClient := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Burst: 5, Name: "client"}}})
	global := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Burst: 2, Name: "global"}}, Key: reqkey.Global})
	h := Middleware(perClient, global)(okHandler)
	rec := serve(h, "")
	if it := sfItems(t, rec.Header(), "RateLimit"); it[0].val != "global" || intParam(t, it[0], "r") != 1 {
		t.Errorf("RateLimit = %q, want the most restrictive (global, r=1)", rec.Header().Get("RateLimit"))
	}
	if pol := sfItems(t, rec.Header(), "RateLimit-Policy"); len(pol) != 2 {
		t.Errorf("RateLimit-Policy = %q, want both limiters", rec.Header().Get("RateLimit-Policy"))
	}
	serve(h, "")
	for range 3 {
		if rec := serve(h, ""); rec.Code != 429 {
			t.Fatalf("global budget exhausted but got %d", rec.Code)
		}
	}
	// The client limiter admitted 5 requests but 3 were refunded: 3 left.
	if d := perClient.Allow("192.0.2.1"); !d.Allowed || d.Remaining != 2 {
		t.Errorf("client bucket after refunds: %+v, want 2 left after this one", d)
	}
}

func TestMiddlewareQueueMode(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 200, Per: time.Second, Burst: 1}}, Mode: Queue})
	h := Middleware(l)(okHandler)
	start := time.Now()
	for i := range 3 {
		if rec := serve(h, ""); rec.Code != 200 {
			t.Fatalf("queued request %d: %d", i, rec.Code)
		}
	}
	if el := time.Since(start); el < 10*time.Millisecond {
		t.Errorf("3 requests at 200/s burst 1 took %v, want >= 10ms (they must wait)", el)
	}
	tight := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}, Mode: Queue, MaxWait: time.Millisecond})
	th := Middleware(tight)(okHandler)
	serve(th, "")
	if rec := serve(th, ""); rec.Code != 429 || rec.Header().Get("Retry-After") != "3600" {
		t.Errorf("over max wait: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestMiddlewareErrorHandlerAndNil(t *testing.T) {
	var got error
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Minute}}, ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		if w.Header().Get("Retry-After") != "60" {
			t.Errorf("Retry-After not set before ErrorHandler: %q", w.Header().Get("Retry-After"))
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}})
	h := Middleware(l)(okHandler)
	serve(h, "")
	if rec := serve(h, ""); rec.Code != 503 || !errors.Is(got, ErrLimited) {
		t.Errorf("custom handler: %d, %v", rec.Code, got)
	}
	if rec := serve(Middleware(nil)(okHandler), ""); rec.Code != 500 {
		t.Errorf("nil limiter: %d, want 500 (never allow-all)", rec.Code)
	}
	if rec := serve(Middleware()(okHandler), ""); rec.Code != 200 {
		t.Errorf("no limiters: %d", rec.Code)
	}
	// The next handler gets the caller's ResponseWriter (Flusher intact).
	var flusher bool
	fh := Middleware(mustNew(t, Config{Rates: []Rate{PerSecond(5)}}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, flusher = w.(http.Flusher)
	}))
	serve(fh, "")
	if !flusher {
		t.Error("the ResponseWriter lost http.Flusher")
	}
}

// FuzzKeys feeds client-controlled request parts to the key functions:
// none may panic, keys stay short, and an untrusted peer's forwarding
// headers never change its key.
func FuzzKeys(f *testing.F) {
	f.Add("192.0.2.1:1234", "203.0.113.9", "Bearer abc", "k1")
	f.Add("[2001:db8::1%eth0]:443", "1.2.3.4, 5.6.7.8", "Basic", "")
	f.Add("@", "", "Bearer ", strings.Repeat("x", 300))
	f.Fuzz(func(t *testing.T, remote, xff, auth, apiKey string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		base := reqkey.ClientIP(r)
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-API-Key", apiKey)
		if got := reqkey.ClientIP(r); got != base {
			t.Fatalf("X-Forwarded-For %q changed the key of peer %q: %q -> %q", xff, remote, base, got)
		}
		if len(base) > 64 {
			t.Fatalf("ClientIP key %q too long", base)
		}
		if k := normKey(reqkey.Join(reqkey.ClientIP, reqkey.Header("X-API-Key"))(r)); len(k) > maxKeyLen+16 {
			t.Fatalf("stored key of %d bytes", len(k))
		}
	})
}

// TestMiddlewareNoRefundToDryRun checks that when a later limiter rejects,
// an earlier dry-run limiter that admitted the request over its limit
// (taking no token) is not refunded: that would mint a token.
func TestMiddlewareNoRefundToDryRun(t *testing.T) {
	dry := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Name: "dry"}}, DryRun: true})
	enforce := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Name: "enforce"}}})
	h := Middleware(dry, enforce)(okHandler)
	if rec := serve(h, ""); rec.Code != 200 {
		t.Fatalf("first request: %d", rec.Code)
	}
	for i := range 3 { // dry run: over its limit, admitted; enforce: rejects
		if rec := serve(h, ""); rec.Code != 429 {
			t.Fatalf("request %d: %d, want 429 from the enforcing limiter", i+2, rec.Code)
		}
	}
	if d := dry.Allow("192.0.2.1"); !d.Limited {
		t.Errorf("dry-run bucket after refunds: %+v, want still empty (over its limit)", d)
	}
	if st := dry.Stats(); st.Allowed != 1 || st.LimitedDryRun != 4 {
		t.Errorf("dry-run Stats = %+v, want 1 allowed, 4 limited", st)
	}
}

// TestMiddlewareDuplicatePolicyNames checks that policies of several
// limiters sharing a name get distinct names in RateLimit-Policy (repeats
// suffixed "-2", "-3" in argument order), and that RateLimit names the
// most restrictive one as listed.
func TestMiddlewareDuplicatePolicyNames(t *testing.T) {
	perClient := mustNew(t, Config{Rates: []Rate{{Count: 5, Per: time.Hour}, {Count: 100, Per: time.Second, Name: "5/h-2"}}})
	global := mustNew(t, Config{Rates: []Rate{{Count: 5, Per: time.Hour, Burst: 2}}, Key: reqkey.Global})
	route := mustNew(t, Config{Rates: []Rate{{Count: 5, Per: time.Hour, Burst: 3}}, Key: reqkey.Route})
	h := Middleware(perClient, global, route)(okHandler)
	rec := serve(h, "")
	var names []string
	for _, it := range sfItems(t, rec.Header(), "RateLimit-Policy") {
		names = append(names, it.val.(string))
	}
	if want := []string{"5/h", "5/h-2", "5/h-3", "5/h-4"}; strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("RateLimit-Policy names = %q, want %q", names, want)
	}
	if it := sfItems(t, rec.Header(), "RateLimit"); it[0].val != "5/h-3" || intParam(t, it[0], "r") != 1 {
		t.Errorf("RateLimit = %q, want the global policy as listed (5/h-3, r=1)", rec.Header().Get("RateLimit"))
	}
	serve(h, "")
	rec = serve(h, "") // the global limiter rejects
	if it := sfItems(t, rec.Header(), "RateLimit"); rec.Code != 429 || it[0].val != "5/h-3" {
		t.Errorf("rejection: %d, RateLimit = %q, want 429 naming 5/h-3", rec.Code, rec.Header().Get("RateLimit"))
	}
	// Each limiter keeps its own names when used alone.
	if it := sfItems(t, serve(Middleware(global)(okHandler), "").Header(), "RateLimit-Policy"); it[0].val != "5/h" {
		t.Errorf("global alone: RateLimit-Policy = %v, want 5/h", it)
	}
}

// TestMiddlewareAllocs bounds the allocations of an admitted request: the
// client IP key string, the RateLimit value and the two header value
// slices. Header names are stored in canonical form, so none is
// re-canonicalised per request.
func TestMiddlewareAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := mustNew(t, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second}}})
	h := Middleware(l)(okHandler)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(1000, func() {
		clear(w.Header())
		h.ServeHTTP(w, r)
	}); n > 4 {
		t.Errorf("Middleware allocates %v times per admitted request, want at most 4", n)
	}
	if got := w.Header().Get(HeaderRateLimitPolicy); got != `"1000000/s";q=1000000;w=1` {
		t.Errorf("RateLimit-Policy = %q", got)
	}
	legacy := Middleware(mustNew(t, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second}}, Headers: HeadersLegacy}))(okHandler)
	if n := testing.AllocsPerRun(1000, func() {
		clear(w.Header())
		legacy.ServeHTTP(w, r)
	}); n > 7 {
		t.Errorf("legacy headers: %v allocations per admitted request, want at most 7 (key, 3 values, 3 slices)", n)
	}
	if got := w.Header().Get("X-RateLimit-Limit"); got != "1000000" {
		t.Errorf("X-RateLimit-Limit = %q", got)
	}
}

// BenchmarkMiddleware is one request through Middleware with the default
// ClientIP key and draft headers, over 256 clients.
func BenchmarkMiddleware(b *testing.B) {
	l := mustNew(b, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second}}})
	h := Middleware(l)(okHandler)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/", nil)
		w := httptest.NewRecorder()
		i := 0
		for pb.Next() {
			i++
			r.RemoteAddr = "10.0.0." + strconv.Itoa(i%256) + ":1"
			clear(w.Header())
			h.ServeHTTP(w, r)
		}
	})
}

type infoWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoWriter) RequestInfo() *reqinfo.Info { return &w.info }

// TestMiddlewareTellsTheAccessLogItsDecision checks that the decision
// reaches the writer of an access log around the limiter.
func TestMiddlewareTellsTheAccessLogItsDecision(t *testing.T) {
	lim := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Burst: 1}}, Key: reqkey.Global})
	dry := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Burst: 1}}, Key: reqkey.Global, DryRun: true})
	for _, tc := range []struct {
		name string
		lim  *Limiter
		want []string
	}{
		{"reject", lim, []string{"allowed", "rejected"}},
		{"dry run", dry, []string{"allowed", "dry-run"}},
	} {
		h := Middleware(tc.lim)(okHandler)
		for i, want := range tc.want {
			w := &infoWriter{ResponseWriter: httptest.NewRecorder()}
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.info.Limit != want {
				t.Errorf("%s: request %d recorded %q, want %q", tc.name, i, w.info.Limit, want)
			}
		}
	}
}

// TestWriteErrorSaysWhenToRetry: the 429 problem document's detail gives
// the wait in whole seconds, rounded up, with the unit's number agreeing.
func TestWriteErrorSaysWhenToRetry(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want string
	}{
		{300 * time.Millisecond, "Too many requests; retry after 1 second."},
		{time.Second, "Too many requests; retry after 1 second."},
		{1500 * time.Millisecond, "Too many requests; retry after 2 seconds."},
		{time.Minute, "Too many requests; retry after 60 seconds."},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest("GET", "/", nil), &LimitError{RetryAfter: tc.wait, Err: ErrLimited})
		var doc struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatalf("wait %v: %v in %q", tc.wait, err, rec.Body)
		}
		if rec.Code != http.StatusTooManyRequests || doc.Status != http.StatusTooManyRequests || doc.Detail != tc.want {
			t.Errorf("wait %v: %d %+v, want 429 with detail %q", tc.wait, rec.Code, doc, tc.want)
		}
	}
}
