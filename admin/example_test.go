package admin_test

import (
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/gatekit/gatekit/admin"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
)

func Example() {
	ups, _ := balancer.ParseUpstreams("127.0.0.1:9001,127.0.0.1:9002")
	pool, err := balancer.NewPool(ups)
	if err != nil {
		panic(err)
	}
	c, err := cache.New(nil, cache.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h, err := admin.New(admin.Config{
		Pools:  map[string]*balancer.Pool{"api": pool},
		Caches: map[string]*cache.Cache{"api": c},
		Token:  "change-me", // enables POST /api/cache/purge
	})
	if err != nil {
		panic(err)
	}
	// Serve h on a listener only operators reach, such as 127.0.0.1:9090.
	st := h.Status()
	fmt.Println(st.Pools[0].Name, st.Pools[0].Available, "targets available")

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/cache/purge", strings.NewReader(`{"cache":"api","prefix":"http://example.com/"}`))
	req.Header.Set("Authorization", "Bearer change-me")
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()) != "")
	// Output:
	// api 2 targets available
	// 200 true
}
