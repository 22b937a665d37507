package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/internal/reqinfo"
	"github.com/gatekit/gatekit/route"
)

func TestMiddlewareRecordsTheRuleStatusAndBytes(t *testing.T) {
	m := mustNew(t, Config{})
	h := Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqinfo.From(w).Rule = "orders"
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/orders", strings.NewReader(`{"n":1}`)))
	chunked := httptest.NewRequest("POST", "/orders", strings.NewReader("abc"))
	chunked.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), chunked)
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_http_requests_total{code="2xx",method="POST",rule="orders"}`: 2,
		`gatekit_http_request_body_bytes_total{rule="orders"}`:                10,
		`gatekit_http_response_body_bytes_total{rule="orders"}`:               14,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

func TestMiddlewareCountsAClientThatLeftAs499(t *testing.T) {
	m := mustNew(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	h := Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cancel() }))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if got := scrape(t, m)[`gatekit_http_requests_total{code="4xx",method="GET",rule="none"}`]; got != 1 {
		t.Errorf("a gone client's request counted %v times as 4xx", got)
	}
}

func TestMiddlewareKeepsFlushAndDoesNotModifyTheRequest(t *testing.T) {
	m := mustNew(t, Config{})
	in := httptest.NewRequest("POST", "/", strings.NewReader("x"))
	in.ContentLength = -1
	body := in.Body
	h := Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the middleware: %v", err)
		}
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	if !rec.Flushed {
		t.Error("the flush did not reach the underlying writer")
	}
	if in.Body != body {
		t.Error("the caller's request body was replaced")
	}
}

func BenchmarkMiddleware(b *testing.B) {
	m := mustNew(b, Config{})
	h := Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqinfo.From(w).Rule = "api"
	}))
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// BenchmarkGatewayObservability measures the gateway chain (request ID,
// client IP, access log, trace context, recovery, hygiene, route table)
// with the access log off, on at sampling 1.0 and 0.01, and with metrics.
func BenchmarkGatewayObservability(b *testing.B) {
	jsonLog := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, bc := range []struct {
		name    string
		log     *slog.Logger
		sample  float64
		metrics bool
	}{
		{"off", nil, 0, false},
		{"accesslog=1.0", jsonLog, 1, false},
		{"accesslog=0.01", jsonLog, 0.01, false},
		{"metrics", nil, 0, true},
		{"accesslog=1.0+metrics", jsonLog, 1, true},
		{"accesslog=0.01+metrics", jsonLog, 0.01, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var h http.Handler
			g, err := gatekit.New([]route.Rule{{Name: "hello", Path: "/hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			})}}, gatekit.Config{Logger: bc.log, AccessLog: gatekit.AccessLogConfig{Sample: bc.sample}, NewRequestID: func() string { return "fixed" }})
			if err != nil {
				b.Fatal(err)
			}
			h = g
			if bc.metrics {
				h = Middleware(mustNew(b, Config{}))(g)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/hello", nil)
				w := httptest.NewRecorder()
				for pb.Next() {
					w.Body.Reset()
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// TestMiddlewareAroundAGatewaySeesTheRule checks that metrics wrapped
// around a whole Gateway count requests under the rule its route table
// matched, and that the gateway's access log sees the same record.
func TestMiddlewareAroundAGatewaySeesTheRule(t *testing.T) {
	var logs strings.Builder
	g, err := gatekit.New([]route.Rule{{Name: "hello", Path: "/hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}},
		gatekit.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m := mustNew(t, Config{})
	Middleware(m)(g).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/hello", nil))
	if got := scrape(t, m)[`gatekit_http_requests_total{code="2xx",method="GET",rule="hello"}`]; got != 1 {
		t.Errorf("requests of rule hello = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "route=hello") {
		t.Errorf("the access log lost the rule: %s", logs.String())
	}
}
