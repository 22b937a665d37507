package gatekit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/validate"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newGateway(t *testing.T, routes []route.Rule, cfg Config) *Gateway {
	t.Helper()
	g, err := New(routes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestChainRunsFirstMiddlewareOutermost(t *testing.T) {
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	g := newGateway(t, []route.Rule{
		{Path: "/a", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { order = append(order, "a") }), Middleware: []func(http.Handler) http.Handler{mw("1"), mw("2")}},
		{Path: "/b", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { order = append(order, "b") })},
	}, Config{})
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a", nil))
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/b", nil))
	if got := strings.Join(order, ","); got != "1,2,a,b" {
		t.Errorf("order = %s, want 1,2,a,b", got)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	h := http.NotFoundHandler()
	tests := []struct {
		name   string
		routes []route.Rule
		cfg    Config
	}{
		{"nil handler", []route.Rule{{Path: "/"}}, Config{}},
		{"bad pattern", []route.Rule{{Path: "/{bad", Handler: h}}, Config{}},
		{"bad route config", nil, Config{Route: route.Config{DefaultHost: "bad host/"}}},
		{"bad header", nil, Config{ForwardedHeader: "X-Real-IP"}},
		{"negative", nil, Config{Hygiene: HygieneConfig{MaxHeaderCount: -1}}},
	}
	for _, tc := range tests {
		if _, err := New(tc.routes, tc.cfg); err == nil {
			t.Errorf("%s: New returned no error", tc.name)
		}
	}
}

func TestGatewayRoutesAndSwapsRules(t *testing.T) {
	name := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s+" "+r.URL.Path) })
	}
	g := newGateway(t, []route.Rule{
		{Path: "/api/*", Handler: name("api")},
		{Path: "/admin/*", Handler: name("admin"), Headers: []route.Predicate{{Name: "X-Admin-Token", Value: "ok"}}},
	}, Config{})
	defer g.Close()
	tests := []struct {
		target string
		want   int
		body   string
	}{
		{"/api/users", 200, "api /api/users"},
		{"/api/..%2Fadmin/x", 400, ""},
		{"/api/../admin/x", 400, ""},
		{"/admin/x", 404, ""},
		{"/nothing", 404, ""},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != tc.want || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.target, rec.Code, rec.Body, tc.want, tc.body)
		}
	}
	if err := g.Swap([]route.Rule{{Path: "/v2/*", Handler: name("v2")}}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/api/users", nil))
	if rec.Code != 404 {
		t.Errorf("after Swap, old rule still serves: %d", rec.Code)
	}
	if err := g.Swap([]route.Rule{{Path: "/{bad"}}); err == nil {
		t.Error("Swap accepted an invalid rule")
	}
	rec = httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/x", nil))
	if rec.Body.String() != "v2 /v2/x" {
		t.Errorf("after failed Swap: %d %q", rec.Code, rec.Body)
	}
	nh, err := NewHandler(http.NotFoundHandler(), Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := nh.Swap(nil); err == nil {
		t.Error("Swap on NewHandler gateway: no error")
	}
	if _, err := NewHandler(nil, Config{}, nil); err == nil {
		t.Error("NewHandler(nil): no error")
	}
	if _, err := NewHandler(http.NotFoundHandler(), Config{Hygiene: HygieneConfig{MaxBodyBytes: -1}}, nil); err == nil {
		t.Error("NewHandler with negative MaxBodyBytes: no error")
	}
}

// BenchmarkGatewayChain measures the global chain (recovery, request ID,
// hygiene checks, client IP, routing) around an empty handler, without logging.
func BenchmarkGatewayChain(b *testing.B) {
	g, err := New([]route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}}, Config{
		NewRequestID: func() string { return "fixed" },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/hello", nil)
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			g.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *discardWriter) WriteHeader(int) {}

func TestNewHandlerRejectsFieldsItWouldIgnore(t *testing.T) {
	h := http.NotFoundHandler()
	for name, cfg := range map[string]Config{
		"TrustedProxies":  {TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		"ForwardedHeader": {ForwardedHeader: clientip.Forwarded},
		"Route":           {Route: route.Config{DefaultHost: "example.com"}},
	} {
		if _, err := NewHandler(h, cfg, nil); err == nil {
			t.Errorf("NewHandler with %s: no error", name)
		}
	}
	if _, err := NewHandler(h, Config{Hygiene: HygieneConfig{MaxBodyBytes: 5}}, nil); err != nil {
		t.Errorf("NewHandler with Hygiene: %v", err)
	}
}

// routeSpec is the OpenAPI document of BenchmarkGatewayRoute's full
// route: a small JSON body and a path parameter.
const routeSpec = `{"openapi": "3.0.3", "info": {"title": "bench", "version": "1"}, "paths": {
  "/full/pets": {"post": {"requestBody": {"required": true, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
      "name": {"type": "string", "maxLength": 64}, "tag": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}}}},
    "responses": {"200": {"description": "ok"}}}},
  "/full/pets/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "ok"}}}}}}`

// BenchmarkGatewayRoute compares a full route with the bare proxy route
// it protects, both behind the Gateway's global chain and forwarding to
// the same loopback backend (whose cost, in this process, both include):
// "full" matches the route, asks a rate limiter (a limit never reached),
// validates the request against an OpenAPI document and passes the cache
// (a POST invalidates the URL's stored responses; a GET of an id never
// asked before misses), then proxies; "bare" matches the route and
// proxies. The ratio full/bare of ns/op is what the checks cost.
func BenchmarkGatewayRoute(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, `{"id":1,"name":"rex","tag":"dog","age":3,"pad":"0123456789abcdef"}`)
	}))
	defer backend.Close()
	px := roundRobinProxy(b, backend.URL, proxy.Config{})
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1 << 30, Per: time.Second}}})
	if err != nil {
		b.Fatal(err)
	}
	v, err := validate.Load([]byte(routeSpec), validate.Config{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := cache.New(nil, cache.Config{MaxBytes: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	checks := []func(http.Handler) http.Handler{ratelimit.Middleware(lim), validate.Middleware(v), cache.Middleware(c)}
	g, err := New([]route.Rule{
		{Name: "full", Path: "/full/*", Middleware: checks, Handler: px},
		{Name: "bare", Path: "/bare/*", Handler: px},
	}, Config{NewRequestID: func() string { return "fixed" }})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"name":"rex","tag":"dog","age":3}`
	id := 0 // the last id asked for
	for _, tc := range []struct{ name, method, path string }{
		{"post-json/bare", "POST", "/bare/pets"},
		{"post-json/full", "POST", "/full/pets"},
		{"get-miss/bare", "GET", "/bare/pets/"},
		{"get-miss/full", "GET", "/full/pets/"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				path := tc.path
				var rd io.Reader
				if tc.method == "POST" {
					rd = strings.NewReader(body)
				} else {
					id++
					path += strconv.Itoa(id) // a new id: never in the cache
				}
				req := httptest.NewRequest(tc.method, path, rd)
				req.RemoteAddr = "192.0.2.1:1234"
				if rd != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				g.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s %s: status %d %s", tc.method, path, rec.Code, rec.Body)
				}
			}
		})
	}
}
