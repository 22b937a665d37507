package metrics

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape fetches m's /metrics in the text format and returns each series
// ("name{labels}") with its value.
func scrape(t testing.TB, m *Metrics) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func mustNew(t testing.TB, cfg Config) *Metrics {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{MaxRules: -1},
		{Buckets: []float64{0.1, 0.1}},
		{Buckets: []float64{-1}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestObserveCountsByRuleMethodAndClass(t *testing.T) {
	m := mustNew(t, Config{})
	m.Observe(Request{Rule: "api", Method: "GET", Status: 200, Duration: 3 * time.Millisecond, BytesIn: 0, BytesOut: 64})
	m.Observe(Request{Rule: "api", Method: "GET", Status: 204, Duration: time.Millisecond, BytesOut: 0})
	m.Observe(Request{Rule: "api", Method: "BREW", Status: 503, Duration: time.Second, BytesIn: 10})
	m.Observe(Request{Method: "POST", Status: 499})
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_http_requests_total{code="2xx",method="GET",rule="api"}`:     2,
		`gatekit_http_requests_total{code="5xx",method="OTHER",rule="api"}`:   1,
		`gatekit_http_requests_total{code="4xx",method="POST",rule="none"}`:   1,
		`gatekit_http_request_duration_seconds_count{rule="api"}`:             3,
		`gatekit_http_request_duration_seconds_bucket{rule="api",le="0.005"}`: 2,
		`gatekit_http_response_body_bytes_total{rule="api"}`:                  64,
		`gatekit_http_request_body_bytes_total{rule="api"}`:                   10,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

func TestRulesSummarisesEachRule(t *testing.T) {
	m := mustNew(t, Config{})
	m.Observe(Request{Rule: "b", Method: "GET", Status: 200, Duration: time.Millisecond})
	m.Observe(Request{Rule: "b", Method: "GET", Status: 503, Duration: 2 * time.Millisecond})
	m.Observe(Request{Rule: "a", Method: "GET", Status: 429})
	got := m.Rules()
	want := []RuleStats{
		{Rule: "a", Requests: 1, ClientErrors: 1},
		{Rule: "b", Requests: 2, ServerErrors: 1, Duration: 3 * time.Millisecond},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rules() = %+v, want %+v", got, want)
	}
}

func TestMaxRulesBoundsTheSeries(t *testing.T) {
	m := mustNew(t, Config{MaxRules: 2})
	for _, rule := range []string{"a", "b", "c", "d"} {
		m.Observe(Request{Rule: rule, Method: "GET", Status: 200})
	}
	got := scrape(t, m)
	if got[`gatekit_http_requests_total{code="2xx",method="GET",rule="other"}`] != 2 {
		t.Errorf("rules beyond MaxRules were not counted as other: %v", got)
	}
	if _, ok := got[`gatekit_http_requests_total{code="2xx",method="GET",rule="c"}`]; ok {
		t.Error("a rule beyond MaxRules got its own series")
	}
}

func TestObserveAllocatesNothingOnceSeen(t *testing.T) {
	m := mustNew(t, Config{})
	r := Request{Rule: "api", Method: "GET", Status: 200, Duration: time.Millisecond, BytesIn: 1, BytesOut: 2}
	m.Observe(r)
	if n := testing.AllocsPerRun(100, func() { m.Observe(r) }); n != 0 {
		t.Errorf("Observe allocates %v times per request", n)
	}
}

func TestDuplicateEngineNamesAreRefused(t *testing.T) {
	m := mustNew(t, Config{})
	if err := m.claim("cache", "c"); err != nil {
		t.Fatal(err)
	}
	if err := m.claim("cache", "c"); err == nil {
		t.Error("a second cache named c was accepted")
	}
	if err := m.claim("limiter", "c"); err != nil {
		t.Errorf("a limiter named like a cache was refused: %v", err)
	}
}

func BenchmarkObserve(b *testing.B) {
	m := mustNew(b, Config{})
	r := Request{Rule: "api", Method: "GET", Status: 200, Duration: time.Millisecond, BytesOut: 64}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(r)
		}
	})
}
