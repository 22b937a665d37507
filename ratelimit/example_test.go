package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
)

func ExampleMiddleware() {
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerMinute(1)}})
	if err != nil {
		panic(err) // examples may panic; library code may not
	}
	h := ratelimit.Middleware(lim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		fmt.Printf("%d retry-after=%q ratelimit=%s\n", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("RateLimit"))
	}
	// Output:
	// 200 retry-after="" ratelimit="1/m";r=0;t=60
	// 429 retry-after="60" ratelimit="1/m";r=0;t=60
}

func ExampleLimiter_AllowAt() {
	// 10/s with bursts of 20, and at most 1,000 per hour.
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{
		{Count: 10, Per: time.Second, Burst: 20, Name: "burst"},
		{Count: 1000, Per: time.Hour, Name: "hourly"},
	}})
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	admitted := 0
	for range 25 {
		if lim.AllowAt("203.0.113.7", t0).Allowed {
			admitted++
		}
	}
	d := lim.AllowAt("203.0.113.7", t0)
	fmt.Println("admitted at once:", admitted)
	fmt.Println("next:", d.Allowed, "retry after", d.RetryAfter)
	fmt.Println("100ms later:", lim.AllowAt("203.0.113.7", t0.Add(100*time.Millisecond)).Allowed)
	// Output:
	// admitted at once: 20
	// next: false retry after 100ms
	// 100ms later: true
}

func ExampleLimiter_Wait() {
	// Queue mode: excess requests wait their turn instead of failing.
	lim, err := ratelimit.New(ratelimit.Config{
		Rates:   []ratelimit.Rate{{Count: 100, Per: time.Second, Burst: 1}},
		Mode:    ratelimit.Queue,
		MaxWait: time.Second,
	})
	if err != nil {
		panic(err)
	}
	start := time.Now()
	for range 3 {
		if err := lim.Wait(context.Background(), "client"); err != nil {
			panic(err)
		}
	}
	fmt.Println("3 requests took at least 20ms:", time.Since(start) >= 20*time.Millisecond)
	// Output:
	// 3 requests took at least 20ms: true
}

func ExampleParseRate() {
	r, err := ratelimit.ParseRate("1000/h")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Count, r.Per, r.Limit())
	// Output:
	// 1000 1h0m0s 0.2777777777777778
}

func ExampleConcurrencyMiddleware() {
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Max: 1, Key: reqkey.Global})
	if err != nil {
		panic(err)
	}
	var inner *httptest.ResponseRecorder
	var h http.Handler
	h = ratelimit.ConcurrencyMiddleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inner == nil { // while this request is in flight, try another
			inner = httptest.NewRecorder()
			h.ServeHTTP(inner, httptest.NewRequest("GET", "/", nil))
		}
	}))
	outer := httptest.NewRecorder()
	h.ServeHTTP(outer, httptest.NewRequest("GET", "/", nil))
	fmt.Println(outer.Code, inner.Code, inner.Header().Get("RateLimit-Policy"))
	// Output:
	// 200 429 "concurrency";q=1;qu="concurrency"
}

// Example_gateway limits one route per client IP (10/minute, bursts of
// 20, at most 1,000/hour) and queues another (5/s shared by all clients, waiting
// up to 2s behind at most 50 others) behind clientip's resolver.
func Example_gateway() {
	perIP, err := ratelimit.New(ratelimit.Config{
		Rates: []ratelimit.Rate{{Count: 10, Per: time.Minute, Burst: 20}, ratelimit.PerHour(1000)},
	}) // Key nil: reqkey.ClientIP, IPv6 aggregated by /64
	if err != nil {
		panic(err)
	}
	queued, err := ratelimit.New(ratelimit.Config{
		Rates: []ratelimit.Rate{{Count: 5, Per: time.Second}},
		Key:   reqkey.Global, Mode: ratelimit.Queue, MaxWait: 2 * time.Second, MaxQueue: 50,
	})
	if err != nil {
		panic(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("/api/", ratelimit.Middleware(perIP)(backend))
	mux.Handle("/reports/", ratelimit.Middleware(queued)(backend))
	res, err := clientip.New(clientip.Config{}) // add TrustedProxies behind a load balancer
	if err != nil {
		panic(err)
	}
	h := clientip.Middleware(res)(mux)

	codes := map[int]int{}
	for range 25 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/items", nil))
		codes[rec.Code]++
	}
	fmt.Println("api:", codes[200], "ok,", codes[429], "limited")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/reports/daily", nil))
	fmt.Println("reports:", rec.Code)
	// Output:
	// api: 20 ok, 5 limited
	// reports: 200
}

func ExampleLimiter_SetRatesAt() {
	// A route's limit is raised from 10 to 100 a minute while a client
	// has used 8 of its 10: it keeps having used 80%, 80 of the new 100,
	// rather than getting a fresh burst.
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerMinute(10)}})
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 8 {
		lim.AllowAt("client", t0)
	}
	if err := lim.SetRatesAt([]ratelimit.Rate{ratelimit.PerMinute(100)}, t0); err != nil {
		panic(err)
	}
	fmt.Println("left after the change:", lim.AllowAt("client", t0).Remaining+1)
	fmt.Println("a new client:", lim.AllowAt("other", t0).Remaining+1)
	// Output:
	// left after the change: 20
	// a new client: 100
}

func ExampleConcurrency_ReserveAt() {
	// One request in flight per key; others queue for up to 2s.
	c, err := ratelimit.NewConcurrency(ratelimit.ConcurrencyConfig{Max: 1, Mode: ratelimit.Queue, MaxWait: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first, _ := c.ReserveAt("k", t0) // nil: a slot at once
	second, _ := c.ReserveAt("k", t0)
	ok, wait, _ := second.PollAt(t0.Add(time.Second))
	fmt.Println("first waits:", first != nil, "second after 1s:", ok, wait)
	c.Release("k") // the first request ends: its slot passes to the second
	ok, _, _ = second.PollAt(t0.Add(1500 * time.Millisecond))
	fmt.Println("second after the release:", ok)
	c.Release("k")
	// Output:
	// first waits: false second after 1s: false 1s
	// second after the release: true
}
