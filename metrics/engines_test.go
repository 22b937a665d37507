package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/validate"
)

const itemSpec = `openapi: 3.0.3
info: {title: Items, version: "1"}
paths:
  /items/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
`

// TestEngineFamiliesMoveWithTraffic drives a cache, a limiter, a
// validator and a route table with real requests and checks that each
// family reports what happened.
func TestEngineFamiliesMoveWithTraffic(t *testing.T) {
	m := mustNew(t, Config{})
	c, err := cache.New(nil, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 3, Per: time.Hour, Burst: 3}}, Key: reqkey.Global})
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.Load([]byte(itemSpec), validate.Config{})
	if err != nil {
		t.Fatal(err)
	}
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "item")
	})
	tb, err := route.New([]route.Rule{{Name: "items", Path: "/items/*", Handler: validate.Middleware(v)(cache.Middleware(c)(origin))}}, route.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	for name, err := range map[string]error{
		"cache": m.AddCache("items", c), "limiter": m.AddLimiter("items", lim),
		"validator": m.AddValidator("items", v), "routes": m.AddRoutes("main", tb),
	} {
		if err != nil {
			t.Fatalf("Add %s: %v", name, err)
		}
	}
	h := ratelimit.Middleware(lim)(tb)
	var codes []int
	for _, path := range []string{"/items/1", "/items/1", "/items/x", "/items/2"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		codes = append(codes, rec.Code)
	}
	if want := []int{200, 200, 400, 429}; !slices.Equal(codes, want) {
		t.Fatalf("statuses = %v, want %v", codes, want)
	}
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_cache_misses_total{cache="items"}`:                           1,
		`gatekit_cache_hits_total{cache="items"}`:                             1,
		`gatekit_validate_rejected_total{reason="invalid",validator="items"}`: 1,
		`gatekit_validate_requests_total{validator="items"}`:                  3,
		`gatekit_ratelimit_allowed_total{limiter="items"}`:                    3,
		`gatekit_ratelimit_rejected_total{limiter="items"}`:                   1,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

func TestPoolReportsEachTarget(t *testing.T) {
	m := mustNew(t, Config{})
	ups, err := balancer.ParseUpstreams("127.0.0.1:9001,127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddPool("api", pool); err != nil {
		t.Fatal(err)
	}
	if err := m.AddPool("api", pool); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("a second pool named api: %v", err)
	}
	pool.SetHealthy(pool.Targets()[1], false)
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_upstream_targets{pool="api"}`:                                  2,
		`gatekit_upstream_targets_available{pool="api"}`:                        1,
		`gatekit_upstream_pickable{pool="api",target="http://127.0.0.1:9001"}`:  1,
		`gatekit_upstream_pickable{pool="api",target="http://127.0.0.1:9002"}`:  0,
		`gatekit_upstream_weight{pool="api",target="http://127.0.0.1:9001"}`:    1,
		`gatekit_upstream_in_flight{pool="api",target="http://127.0.0.1:9002"}`: 0,
		`gatekit_upstream_ejected{pool="api",target="http://127.0.0.1:9002"}`:   0,
		`gatekit_upstream_draining{pool="api",target="http://127.0.0.1:9002"}`:  0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
}

// sharedStub is a SharedLimiter whose counters the test sets.
type sharedStub struct{ st ratelimit.SharedStats }

func (s *sharedStub) Stats() ratelimit.SharedStats { return s.st }

// TestSharedLimiterFamilies: AddSharedLimiter reports the shared limit's
// counters and whether the store decides, read at each scrape, and
// refuses a second shared limiter of the same name (a local limiter of
// that name is another family).
func TestSharedLimiterFamilies(t *testing.T) {
	m := mustNew(t, Config{})
	s := &sharedStub{st: ratelimit.SharedStats{Decisions: 7, Pipelines: 2, UsingRedis: true}}
	if err := m.AddSharedLimiter("api", s); err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Second, Burst: 1}}, Key: reqkey.Global})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddLimiter("api", lim); err != nil {
		t.Errorf("a local limiter named like a shared one: %v", err)
	}
	if err := m.AddSharedLimiter("api", s); err == nil {
		t.Error("a second shared limiter named api was registered")
	}
	check := func(want map[string]float64) {
		t.Helper()
		got := scrape(t, m)
		for series, v := range want {
			if got[series] != v {
				t.Errorf("%s = %v, want %v", series, got[series], v)
			}
		}
	}
	check(map[string]float64{
		`gatekit_ratelimit_shared_decisions_total{limiter="api"}`:          7,
		`gatekit_ratelimit_shared_fallback_decisions_total{limiter="api"}`: 0,
		`gatekit_ratelimit_shared_pipelines_total{limiter="api"}`:          2,
		`gatekit_ratelimit_shared_store_in_use{limiter="api"}`:             1,
	})
	// The store goes away: errors, a switch to the fallback, which decides.
	s.st = ratelimit.SharedStats{Decisions: 7, Pipelines: 2, Errors: 3, ToFallback: 1, Fallbacks: 4,
		Local: ratelimit.Stats{Allowed: 3, Rejected: 1, Keys: 2}}
	check(map[string]float64{
		`gatekit_ratelimit_shared_fallback_rejected_total{limiter="api"}`:  1,
		`gatekit_ratelimit_shared_fallback_keys{limiter="api"}`:            2,
		`gatekit_ratelimit_shared_errors_total{limiter="api"}`:             3,
		`gatekit_ratelimit_shared_store_left_total{limiter="api"}`:         1,
		`gatekit_ratelimit_shared_fallback_decisions_total{limiter="api"}`: 4,
		`gatekit_ratelimit_shared_store_in_use{limiter="api"}`:             0,
	})
	// It comes back.
	s.st.ToRedis, s.st.UsingRedis = 1, true
	check(map[string]float64{
		`gatekit_ratelimit_shared_store_returned_total{limiter="api"}`: 1,
		`gatekit_ratelimit_shared_store_in_use{limiter="api"}`:         1,
	})
}
