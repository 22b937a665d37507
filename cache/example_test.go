package cache_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gatekit/gatekit/cache"
)

func ExampleMiddleware() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello")
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}

	// The default store is ristretto, bounded in bytes. A Set becomes
	// visible a moment later, so this example waits for it.
	store, err := cache.NewRistrettoStore(64<<20, 0)
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a fixed clock keeps the output stable
	c, err := cache.New(store, cache.Config{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := cache.Middleware(c)(proxy)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/greeting", nil))
		fmt.Println(rec.Code, rec.Body.String(), rec.Header().Get("Cache-Status"))
		store.Wait()
	}
	// Output:
	// 200 hello gatekit; fwd=uri-miss; stored
	// 200 hello gatekit; hit; ttl=60
}

func ExampleCache_PurgeTag() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a fixed clock keeps the output stable
	clock := func() time.Time { return now }
	c, err := cache.New(cache.NewMemoryStore(1<<20, clock), cache.Config{Now: clock})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "product-42 catalogue")
		io.WriteString(w, "product 42")
	}))
	get := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://shop.example/products/42", nil))
		return rec.Header().Get("Cache-Status")
	}
	fmt.Println(get())
	fmt.Println(get())
	fmt.Println("purged", c.PurgeTag(context.Background(), "product-42"))
	fmt.Println(get())
	// Output:
	// gatekit; fwd=uri-miss; stored
	// gatekit; hit; ttl=600
	// purged 1
	// gatekit; fwd=uri-miss; stored
}
