package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
)

// With no available target, the proxy answers 503 problem+json with
// Retry-After.
func ExampleProxy_noTargets() {
	pool, _ := balancer.NewPool(nil)
	lr, _ := balancer.NewLeastRequest(pool, balancer.LoadConfig{})
	px, _ := proxy.New(lr, proxy.Config{})
	defer px.Close()
	rec := httptest.NewRecorder()
	px.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), "Retry-After:", rec.Header().Get("Retry-After"))
	// Output: 503 application/problem+json Retry-After: 1
}

// A gRPC caller gets the proxy's errors as gRPC statuses: HTTP 200 with
// grpc-status 14 (UNAVAILABLE) and the Retry-After as retry pushback.
func ExampleProxy_gRPCErrors() {
	ups, _ := balancer.ParseUpstreams("h2c://127.0.0.1:50051")
	pool, _ := balancer.NewPool(ups)
	pool.SetHealthy(pool.Targets()[0], false) // nothing to pick
	px, _ := proxy.New(balancer.NewRoundRobin(pool), proxy.Config{})
	defer px.Close()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/helloworld.Greeter/SayHello", nil)
	req.Header.Set("Content-Type", "application/grpc")
	px.ServeHTTP(rec, req)
	h := rec.Header()
	fmt.Println(rec.Code, h.Get("Content-Type"), h.Get("Grpc-Status"), h.Get("Grpc-Retry-Pushback-Ms"), h.Get("Grpc-Message"))
	// Output: 200 application/grpc 14 1000 no upstream server is available
}

// A resilient proxy: a dead target's requests are retried elsewhere (GET
// always; POST only when the dial failed), failing targets are ejected,
// active checks run in the background and each target gets at most 128
// requests at once.
func ExampleNew_resilience() {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from live")
	}))
	defer live.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more

	ups, _ := balancer.ParseUpstreams(dead + "," + live.URL)
	pool, _ := balancer.NewPool(ups)
	outlier, _ := balancer.NewOutlier(balancer.NewRoundRobin(pool), balancer.OutlierConfig{Consecutive: 1})
	checks, _ := balancer.NewHealthChecker(map[string]*balancer.Pool{"orders": pool}, balancer.HealthConfig{Path: "/"})
	checks.Start()
	defer checks.Close()
	policy, _ := balancer.NewBreaker(outlier, balancer.BreakerConfig{MaxInFlight: 128})
	px, _ := proxy.New(policy, proxy.Config{
		Timeout: 5 * time.Second,
		Retry:   proxy.RetryConfig{PutDelete: true},
	})
	defer px.Close()

	for range 3 {
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, httptest.NewRequest("POST", "/orders", nil))
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 hello from live
	// 200 hello from live
	// 200 hello from live
}

// Removing a target and draining it: new requests go elsewhere, and Drain
// returns once the target has nothing in flight and no connection open.
func ExampleProxy_Drain() {
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "old") }))
	defer old.Close()
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") }))
	defer next.Close()
	ups, _ := balancer.ParseUpstreams(old.URL + "," + next.URL)
	pool, _ := balancer.NewPool(ups)
	px, _ := proxy.New(balancer.NewRoundRobin(pool), proxy.Config{})
	defer px.Close()
	get := func() string {
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Body.String()
	}
	a, b := get(), get() // round robin starts at a random target
	fmt.Println(min(a, b), max(a, b))
	target := pool.Targets()[0]
	pool.Remove(target.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("drained:", px.Drain(ctx, target))
	fmt.Println(get(), get())
	// Output:
	// new old
	// drained: <nil>
	// new new
}

// A RetryBudget allows concurrent retries up to a fraction of the
// requests in progress, with a minimum; it may be shared by proxies
// (RetryConfig.Budget).
func ExampleRetryBudget() {
	budget := proxy.NewRetryBudget(0.2, 1) // 20% of active requests, at least 1
	for range 10 {
		budget.Begin() // ten requests in progress
	}
	granted := 0
	for range 5 {
		if budget.Acquire() {
			granted++
		}
	}
	fmt.Println("retries granted:", granted, "denied:", budget.Stats().Denied)
	for range granted {
		budget.Release()
	}
	for range 10 {
		budget.End()
	}
	st := budget.Stats()
	fmt.Println("in progress:", st.Requests, st.Retries)
	// Output:
	// retries granted: 2 denied: 3
	// in progress: 0 0
}
