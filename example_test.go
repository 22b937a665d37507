package gatekit_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

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
