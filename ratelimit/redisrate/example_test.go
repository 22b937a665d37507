package redisrate_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/ratelimit/redisrate"
)

// Example_fallback limits an API to 10 requests a minute per client,
// shared by two gateway instances through Redis. No Redis listens on
// port 1 here, so every call fails at once; after three failures the
// limiter stops trying (until its cooldown ends) and enforces the limit
// divided between the instances, 5 a minute, locally.
func Example_fallback() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	lim, err := redisrate.New(client, redisrate.Config{
		Name:      "api",
		Instances: 2,
		OnError:   redisrate.FallbackLocal,
		Limit:     ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerMinute(10)}},
	})
	if err != nil {
		panic(err)
	}
	h := ratelimit.Middleware(lim)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	codes := map[int]int{}
	for range 7 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		codes[rec.Code]++
	}
	st := lim.Stats()
	fmt.Println("admitted:", codes[200], "limited:", codes[429])
	fmt.Println("using Redis:", st.UsingRedis, "switches away:", st.ToFallback, "failed calls:", st.Errors)
	// Output:
	// admitted: 5 limited: 2
	// using Redis: false switches away: 1 failed calls: 3
}
