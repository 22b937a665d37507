package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/ratelimit"
)

func mustNew(t testing.TB, cfg Config) *Handler {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method, path string, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestNewRejectsNilEngines(t *testing.T) {
	var nilShared *sharedStub
	for name, cfg := range map[string]Config{
		"pool":                {Pools: map[string]*balancer.Pool{"p": nil}},
		"cache":               {Caches: map[string]*cache.Cache{"c": nil}},
		"shared limiter":      {SharedLimiters: map[string]metrics.SharedLimiter{"s": nil}},
		"shared limiter, nil": {SharedLimiters: map[string]metrics.SharedLimiter{"s": nilShared}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted a nil engine", name)
		}
	}
}

// sharedStub is a limit shared through a store, with counters the test
// sets.
type sharedStub struct{ st ratelimit.SharedStats }

func (s *sharedStub) Stats() ratelimit.SharedStats { return s.st }

func TestHealthAndReadiness(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	h := mustNew(t, Config{Ready: ready.Load})
	if rec := do(h, "GET", "/healthz", ""); rec.Code != 200 {
		t.Errorf("/healthz = %d", rec.Code)
	}
	if rec := do(h, "GET", "/readyz", ""); rec.Code != 200 {
		t.Errorf("/readyz while ready = %d", rec.Code)
	}
	ready.Store(false)
	if rec := do(h, "GET", "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shutting down = %d, want 503", rec.Code)
	}
	if rec := do(h, "GET", "/healthz", ""); rec.Code != 200 {
		t.Errorf("/healthz while shutting down = %d, want 200 (the process is alive)", rec.Code)
	}
}

func TestUnknownPathsAndMethodsAreProblems(t *testing.T) {
	h := mustNew(t, Config{})
	rec := do(h, "GET", "/nope", "")
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /nope = %d %q, want 404 problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = do(h, "DELETE", "/api/status", "")
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE /api/status = %d Allow %q, want 405 with GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	rec = do(h, "GET", "/api/cache/purge", "")
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET /api/cache/purge = %d Allow %q, want 405 with POST", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := do(h, "GET", "/metrics", ""); rec.Code != 404 {
		t.Errorf("/metrics without Config.Metrics = %d, want 404", rec.Code)
	}
}

func TestMetricsAndStatusDocument(t *testing.T) {
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ups, _ := balancer.ParseUpstreams("http://user:secret@127.0.0.1:9001,127.0.0.1:9002")
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	pool.SetHealthy(pool.Targets()[1], false)
	pool.SetDraining(pool.Targets()[0], true)
	pool.SetDraining(pool.Targets()[0], false)
	m.Observe(metrics.Request{Rule: "api", Method: "GET", Status: 502})
	h := mustNew(t, Config{Metrics: m, Pools: map[string]*balancer.Pool{"api": pool}})
	if rec := do(h, "GET", "/metrics", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `gatekit_http_requests_total{code="5xx",method="GET",rule="api"} 1`) {
		t.Errorf("/metrics = %d, missing the request series:\n%s", rec.Code, rec.Body)
	}
	rec := do(h, "GET", "/api/status", "")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("/api/status = %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Error("the status document shows a target's password")
	}
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Pools) != 1 || st.Pools[0].Available != 1 || len(st.Pools[0].Targets) != 2 ||
		!st.Pools[0].Targets[0].Pickable || st.Pools[0].Targets[1].Pickable || !st.Pools[0].Targets[1].Parked ||
		st.Pools[0].Targets[0].Weight != 1 {
		t.Errorf("pools = %+v, want api with target 1 pickable and target 2 parked", st.Pools)
	}
	if len(st.Rules) != 1 || st.Rules[0].Rule != "api" || st.Rules[0].ServerErrors != 1 {
		t.Errorf("rules = %+v", st.Rules)
	}
	if st.SharedLimiters == nil || len(st.SharedLimiters) != 0 {
		t.Errorf("shared limiters = %#v, want an empty map", st.SharedLimiters)
	}
}

// TestStatusDocumentHasSharedLimiters: a shared limit's counters and
// whether its store decides are in the status document, read at each
// request.
func TestStatusDocumentHasSharedLimiters(t *testing.T) {
	s := &sharedStub{st: ratelimit.SharedStats{Decisions: 5, UsingRedis: true}}
	h := mustNew(t, Config{SharedLimiters: map[string]metrics.SharedLimiter{"api": s}})
	read := func() ratelimit.SharedStats {
		var st Status
		if err := json.Unmarshal(do(h, "GET", "/api/status", "").Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		return st.SharedLimiters["api"]
	}
	if got := read(); got.Decisions != 5 || !got.UsingRedis {
		t.Errorf("shared limiter api = %+v, want 5 decisions by the store", got)
	}
	s.st = ratelimit.SharedStats{Decisions: 5, Errors: 3, ToFallback: 1, Fallbacks: 2}
	if got := read(); got.Fallbacks != 2 || got.Errors != 3 || got.UsingRedis {
		t.Errorf("shared limiter api = %+v, want 2 fallback decisions and the store out of use", got)
	}
}

func TestStatusPageIsSelfContained(t *testing.T) {
	h := mustNew(t, Config{})
	rec := do(h, "GET", "/", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.String()
	for _, ext := range []string{"http://", "https://", "//cdn", "<link rel=\"stylesheet\"", "src=\""} {
		if strings.Contains(body, ext) {
			t.Errorf("the status page refers to an outside asset (%q)", ext)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}
