package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/reqinfo"
	"github.com/gatekit/gatekit/proxy"
)

// TestEjectionShowsInTheMetrics sends real traffic through a proxy to a
// healthy and a failing backend: the failing one is ejected, and the
// scrape shows the ejection, the target no longer pickable, and the
// requests per rule with their status classes.
func TestEjectionShowsInTheMetrics(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer bad.Close()
	ups, err := balancer.ParseUpstreams(good.URL + "," + bad.URL)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	o, err := balancer.NewOutlier(balancer.NewRoundRobin(pool), balancer.OutlierConfig{Consecutive: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	px, err := proxy.New(o, proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	m := mustNew(t, Config{})
	for name, err := range map[string]error{"pool": m.AddPool("api", pool), "outlier": m.AddOutlier("api", o), "proxy": m.AddProxy("api", px)} {
		if err != nil {
			t.Fatalf("Add %s: %v", name, err)
		}
	}
	gw := httptest.NewServer(Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqinfo.From(w).Rule = "api"
		px.ServeHTTP(w, r)
	})))
	defer gw.Close()
	for range 10 {
		resp, err := http.Get(gw.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	got := scrape(t, m)
	badID := "http://" + strings.TrimPrefix(bad.URL, "http://")
	if got[`gatekit_upstream_ejections_total{pool="api"}`] < 1 {
		t.Errorf("no ejection counted: %v", got[`gatekit_upstream_ejections_total{pool="api"}`])
	}
	if v, ok := got[`gatekit_upstream_pickable{pool="api",target="`+badID+`"}`]; !ok || v != 0 {
		t.Errorf("the failing target's pickable = %v (present %v), want 0", v, ok)
	}
	if v := got[`gatekit_upstream_ejected{pool="api",target="`+badID+`"}`]; v != 1 {
		t.Errorf("the failing target's ejected = %v, want 1", v)
	}
	total := got[`gatekit_http_requests_total{code="2xx",method="GET",rule="api"}`] + got[`gatekit_http_requests_total{code="5xx",method="GET",rule="api"}`]
	if total != 10 {
		t.Errorf("requests counted for rule api = %v, want 10", total)
	}
	if got[`gatekit_proxy_retries_total{proxy="api"}`] < 1 {
		t.Errorf("no retry counted, though 503s of an idempotent GET are retried: %v", got[`gatekit_proxy_retries_total{proxy="api"}`])
	}
	if _, ok := got[`gatekit_proxy_desyncs_total{proxy="api"}`]; !ok {
		t.Error("the proxy's counters are missing")
	}
}
