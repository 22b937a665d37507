package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// A Breaker lets at most MaxInFlight requests reach each target; with
// every target full, a pick fails with ErrCircuitOpen (the proxy answers
// 503 with Retry-After).
func ExampleBreaker() {
	ups, _ := balancer.ParseUpstreams("http://10.0.0.1:8080")
	pool, _ := balancer.NewPool(ups)
	b, _ := balancer.NewBreaker(balancer.NewRoundRobin(pool), balancer.BreakerConfig{MaxInFlight: 2})
	_, done1, _ := b.Pick(context.Background(), "")
	_, done2, _ := b.Pick(context.Background(), "")
	_, _, err := b.Pick(context.Background(), "")
	fmt.Println("third pick:", errors.Is(err, balancer.ErrCircuitOpen))
	done1(balancer.Result{Status: 200})
	t, done3, err := b.Pick(context.Background(), "")
	fmt.Println("after one finished:", t.URL(), err)
	done2(balancer.Result{Status: 200})
	done3(balancer.Result{Status: 200})
	// Output:
	// third pick: true
	// after one finished: http://10.0.0.1:8080 <nil>
}

// A target added to the pool starts at MinFactor of its share and ramps
// up linearly over Window.
func ExampleSlowStart() {
	ups, _ := balancer.ParseUpstreams("http://10.0.0.1:8080")
	pool, _ := balancer.NewPool(ups)
	ss, _ := balancer.NewSlowStart(pool, balancer.NewRoundRobin(pool),
		balancer.SlowStartConfig{Window: time.Minute, MinFactor: 0.1})
	newUps, _ := balancer.ParseUpstreams("http://10.0.0.2:8080")
	added, _ := pool.Add(newUps[0])
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ss.StartAt(added, start)
	for _, after := range []time.Duration{0, 30 * time.Second, time.Minute} {
		fmt.Printf("after %v: %.2f\n", after, ss.FactorAt(added, start.Add(after)))
	}
	// Output:
	// after 0s: 0.10
	// after 30s: 0.50
	// after 1m0s: 1.00
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
	proxy, _ := balancer.NewProxy(balancer.NewRoundRobin(pool), balancer.Config{})
	defer proxy.Close()
	get := func() string {
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		return rec.Body.String()
	}
	a, b := get(), get() // round robin starts at a random target
	fmt.Println(min(a, b), max(a, b))
	target := pool.Targets()[0]
	pool.Remove(target.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("drained:", proxy.Drain(ctx, target))
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
	budget := balancer.NewRetryBudget(0.2, 1) // 20% of active requests, at least 1
	for range 10 {
		budget.Begin() // ten requests in progress
	}
	granted := 0
	for range 5 {
		if budget.Acquire() {
			granted++
		}
	}
	fmt.Println("retries granted:", granted, "denied:", budget.Denied())
	for range granted {
		budget.Release()
	}
	for range 10 {
		budget.End()
	}
	requests, retries := budget.Active()
	fmt.Println("in progress:", requests, retries)
	// Output:
	// retries granted: 2 denied: 3
	// in progress: 0 0
}
