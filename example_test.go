package gatekit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/route"
)

// ExampleNew assembles a gateway in front of two backends, round robin.
func ExampleNew() {
	var backends []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend %s saw %s, request ID %s", name, r.URL.Path, r.Header.Get("X-Request-ID"))
		}))
		defer srv.Close()
		backends = append(backends, srv.URL)
	}
	ups, err := balancer.ParseUpstreams(backends[0] + "," + backends[1])
	if err != nil {
		panic(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		panic(err)
	}
	rr := balancer.NewRoundRobin(pool)
	px, err := proxy.New(rr, proxy.Config{})
	if err != nil {
		panic(err)
	}
	defer px.Close()

	g, err := gatekit.New([]route.Rule{{Path: "/api/*", Handler: px}}, gatekit.Config{})
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{}
	for i := range 2 {
		req := httptest.NewRequest("GET", "/api/users", nil)
		req.Header.Set("X-Request-ID", fmt.Sprintf("req-%d", i))
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		seen[string(body[:9])] = true
		fmt.Println(rec.Code, string(body[10:]))
	}
	fmt.Println("backends used:", len(seen))

	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// 200 saw /api/users, request ID req-0
	// 200 saw /api/users, request ID req-1
	// backends used: 2
	// 404 application/problem+json
}

// ExampleServer_Serve serves a handler with safe defaults until the context
// is cancelled, then drains in-flight requests.
func ExampleServer_Serve() {
	srv, err := gatekit.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}), gatekit.ServerConfig{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + ln.Addr().String())
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	cancel()
	fmt.Println("shutdown error:", <-served)
	// Output:
	// hello
	// shutdown error: <nil>
}

// ExampleLifecycle runs a server and closes what the program built, in
// reverse order, when the context ends.
func ExampleLifecycle() {
	lc := gatekit.NewLifecycle(nil)
	lc.Add("cache", closerFunc(func() error { fmt.Println("cache closed"); return nil }))
	lc.Add("proxy", closerFunc(func() error { fmt.Println("proxy closed"); return nil }))
	srv, err := gatekit.NewServer(http.NotFoundHandler(), gatekit.ServerConfig{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	lc.Go("public", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // in a program: signal.NotifyContext(ctx, os.Interrupt)
	fmt.Println("run:", lc.Run(ctx))
	// Output:
	// proxy closed
	// cache closed
	// run: <nil>
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ExampleTraceContext gives every request a W3C trace context that the
// upstream receives and the access log records.
func ExampleTraceContext() {
	h := gatekit.TraceContext(gatekit.TraceConfig{Generate: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := gatekit.ParseTraceparent(r.Header.Get("Traceparent"))
		fmt.Println(len(id), ok)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), r) // a new trace
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), r) // passed on unchanged
	// Output:
	// 32 true
	// 32 true
}

// ExampleRecover answers a panicking handler with 500 problem+json.
func ExampleRecover() {
	h := gatekit.Recover(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("internal detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), strings.Contains(rec.Body.String(), "internal detail"))
	// Output: 500 application/problem+json false
}

// ExampleAssignRequestID keeps a well-formed client request ID and replaces
// a malformed one.
func ExampleAssignRequestID() {
	h := gatekit.AssignRequestID(func() string { return "gw-1" })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("handler sees", gatekit.RequestID(r.Context()), r.Header.Get(gatekit.RequestIDHeader))
	}))
	for _, id := range []string{"client-7", "<script>"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(gatekit.RequestIDHeader, id)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// handler sees client-7 client-7
	// handler sees gw-1 gw-1
}

// ExampleHygiene rejects requests over the limits before they reach the
// handler.
func ExampleHygiene() {
	hygiene, err := gatekit.Hygiene(gatekit.HygieneConfig{MaxBodyBytes: 4})
	if err != nil {
		panic(err)
	}
	h := hygiene(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/", strings.NewReader("12345")),
		httptest.NewRequest("PRI", "*", nil),
		httptest.NewRequest("GET", "/ok", nil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(req.Method, rec.Code)
	}
	// Output:
	// POST 413
	// PRI 400
	// GET 200
}

// ExampleAccessLog logs one record per request.
func ExampleAccessLog() {
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{} // not reproducible
			}
			return a
		},
	}))
	accessLog, err := gatekit.AccessLog(log, gatekit.AccessLogConfig{})
	if err != nil {
		panic(err)
	}
	h := accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}))
	req := httptest.NewRequest("POST", "http://example.test/items", nil)
	req.RemoteAddr = "192.0.2.1:4000"
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// level=INFO msg=request method=POST host=example.test path=/items status=201 bytes_in=0 bytes_out=4 client=192.0.2.1 request_id="" proto=HTTP/1.1
}
