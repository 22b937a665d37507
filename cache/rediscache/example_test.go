package rediscache_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/cache/rediscache"
	"github.com/redis/go-redis/v9"
)

// Example wires a cache shared through Redis. Here nothing listens on the
// Redis address, which shows the failure mode: every lookup is a miss and
// requests pass through to the backend.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	store, err := rediscache.New(rdb, rediscache.Config{Prefix: "shop:cache:"})
	if err != nil {
		panic(err)
	}
	c, err := cache.New(store, cache.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "catalogue")
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example/catalogue", nil))
		fmt.Println(rec.Code, rec.Body.String(), rec.Header().Get("Cache-Status"))
	}
	// Output:
	// 200 catalogue gatekit; fwd=uri-miss; stored
	// 200 catalogue gatekit; fwd=uri-miss; stored
}
