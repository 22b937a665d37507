package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminListenerShowsTheDemo serves the demo's admin listener and checks
// that its metrics and status follow traffic through the demo gateway.
func TestAdminListenerShowsTheDemo(t *testing.T) {
	g := startDemo(t, 2)
	pub := httptest.NewServer(g)
	defer pub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	adm, err := startAdmin(ctx, "127.0.0.1:0", g.observed, func() bool { return true }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := adm.wait(); err != nil {
			t.Error(err)
		}
	}()
	get := func(url string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 3 {
		get(pub.URL + "/api/users")
	}
	get(pub.URL + "/cached/news")
	get(pub.URL + "/cached/news")
	get(pub.URL+"/api/users", "X-Version", "v2")

	_, body := get("http://" + adm.addr + "/metrics")
	for _, want := range []string{
		`gatekit_http_requests_total{code="2xx",method="GET",rule="api"} 3`,
		`gatekit_http_requests_total{code="2xx",method="GET",rule="v2-header"} 1`,
		`gatekit_cache_hits_total{cache="cached"} 1`,
		`gatekit_ratelimit_allowed_total{limiter="api-per-client"} 4`,
		`gatekit_surge_limit{pool="default"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	code, body := get("http://" + adm.addr + "/api/status")
	var st struct {
		Pools []struct{ Name string } `json:"pools"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/api/status = %d %v", code, err)
	}
	if len(st.Pools) != 3 || st.Pools[0].Name != "all" || st.Pools[1].Name != "stable" || st.Pools[2].Name != "v2" {
		t.Errorf("pools = %+v, want all, stable, v2", st.Pools)
	}
	if code, _ := get("http://" + adm.addr + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
}
