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

	// The default store is ristretto, bounded in bytes. Its Set waits until
	// the entry is applied, so the second request finds it (unless
	// ristretto's admission policy refuses it, which a best-effort store
	// may do; an empty store admits it).
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

func ExampleNew() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a fixed clock keeps the output stable
	clock := func() time.Time { return now }
	c, err := cache.New(cache.NewMemoryStore(1<<20, clock), cache.Config{
		Now:           clock,
		MaxObjectSize: 256 << 10,
		// Tracking parameters are dropped from the key and from the
		// request forwarded upstream, so the backend never sees them.
		QueryExclude: []string{"utm_source", "utm_campaign"},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h := cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "query seen upstream: %q", r.URL.RawQuery)
	}))
	for _, target := range []string{
		"http://shop.example/list?page=2&utm_source=mail",
		"http://shop.example/list?utm_campaign=x&page=2",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		fmt.Println(rec.Body.String(), "|", rec.Header().Get("Cache-Status"))
	}
	fmt.Println(c.Key(httptest.NewRequest("GET", "http://Shop.Example:80/list?page=2&utm_source=x", nil)))
	// Output:
	// query seen upstream: "page=2" | gatekit; fwd=uri-miss; stored
	// query seen upstream: "page=2" | gatekit; hit; ttl=300
	// GET http://shop.example/list?page=2
}

func ExampleNewMemoryStore() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The MemoryStore applies every Set and expires entries exactly at
	// their TTL by its clock: deterministic, for tests and small setups.
	store := cache.NewMemoryStore(1<<20, func() time.Time { return now })
	ctx := context.Background()
	e := &cache.Entry{Variants: []*cache.Response{{Status: 200, Body: []byte("hi")}}}
	store.Set(ctx, "GET http://example.com/", e, time.Minute)
	got, ok := store.Get(ctx, "GET http://example.com/")
	fmt.Println(ok, string(got.Variants[0].Body), store.Len())
	now = now.Add(time.Minute)
	_, ok = store.Get(ctx, "GET http://example.com/")
	fmt.Println(ok, store.Len())
	// Output:
	// true hi 1
	// false 0
}

// The cache mounted on the GET route of a path never sees the POST that
// creates an item; Invalidator on the write route lets that POST remove
// the stored 404. Freshness stores the backend's answers, which carry no
// Cache-Control, for a minute; the 404 for ten seconds.
func ExampleInvalidator() {
	items := map[string]bool{}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			items[r.PathValue("id")] = true
			w.WriteHeader(http.StatusCreated)
			return
		}
		if !items[r.PathValue("id")] {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "item "+r.PathValue("id"))
	})
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) } // a fixed clock keeps the output stable
	c, err := cache.New(cache.NewMemoryStore(1<<20, now), cache.Config{
		Freshness: map[int]time.Duration{200: time.Minute, 404: 10 * time.Second},
		Now:       now,
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /items/{id}", cache.Middleware(c)(app))
	mux.Handle("POST /items/{id}", cache.Invalidator(c)(app))
	for _, method := range []string{"GET", "GET", "POST", "GET", "GET"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, "http://example.com/items/7", nil))
		fmt.Println(method, rec.Code, rec.Header().Get("Cache-Status"))
	}
	// Output:
	// GET 404 gatekit; fwd=uri-miss; stored
	// GET 404 gatekit; hit; ttl=10
	// POST 201 gatekit; fwd=method
	// GET 200 gatekit; fwd=uri-miss; stored
	// GET 200 gatekit; hit; ttl=60
}
