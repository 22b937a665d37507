package route_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatekit/gatekit/route"
)

// backend returns a handler that prints what it received, standing in for
// a proxy to an upstream pool.
func backend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", name, r.Host, r.URL.EscapedPath())
	})
}

func Example() {
	rules := []route.Rule{
		// Host-based: everything for admin.example.com.
		{Name: "admin", Hosts: []string{"admin.example.com"}, Path: "/*", Handler: backend("admin")},
		// Header-based: beta testers.
		{Name: "beta", Path: "/api/*", Headers: []route.Predicate{{Name: "X-Beta", Value: "1"}}, Handler: backend("beta")},
		// Cookie-based: a session pinned to the EU region.
		{Name: "eu", Path: "/api/*", Cookies: []route.Predicate{{Name: "region", Op: route.OneOf, Values: []string{"eu", "uk"}}}, Handler: backend("eu")},
		// JSON-body-based: orders of gold customers.
		{Name: "gold", Path: "/api/orders", Methods: []string{"POST"},
			Body: []route.Predicate{{Name: "/customer/tier", Value: "gold"}}, Handler: backend("gold")},
		// Canary: 10% of clients, stable per client (reqkey.ClientIP in production).
		{Name: "api", Path: "/api/*",
			Split: []route.Backend{
				{Name: "stable", Weight: 90, Handler: backend("stable")},
				{Name: "canary", Weight: 10, Handler: backend("canary")},
			},
			SplitKey: func(r *http.Request) string { return r.Header.Get("X-User") }},
		// Rewrite: /legacy/x is served by the v2 service as /v2/x.
		{Name: "legacy", Path: "/legacy/*", Rewrite: &route.Rewrite{StripPrefix: "/legacy", AddPrefix: "/v2", Host: "v2.internal"},
			Handler: backend("v2")},
	}
	tb, err := route.New(rules, route.Config{})
	if err != nil {
		panic(err)
	}
	defer tb.Close()

	do := func(method, target, body string, hdr ...string) {
		var r *http.Request
		if body != "" {
			r = httptest.NewRequest(method, target, strings.NewReader(body))
		} else {
			r = httptest.NewRequest(method, target, nil)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		tb.ServeHTTP(rec, r)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	do("GET", "http://Admin.Example.com:443/users", "")
	do("GET", "/api/items", "", "X-Beta", "1")
	do("GET", "/api/items", "", "Cookie", "region=uk")
	do("POST", "/api/orders", `{"customer":{"tier":"gold"}}`)
	do("GET", "/legacy/%7Euser/report", "")
	do("GET", "/api/%2e%2e/admin", "")
	do("DELETE", "/api/orders", "", "X-Beta", "1")

	counts := map[string]int{}
	for i := range 1000 {
		r := httptest.NewRequest("GET", "/api/items", nil)
		r.Header.Set("X-User", fmt.Sprint("user-", i))
		rec := httptest.NewRecorder()
		tb.ServeHTTP(rec, r)
		counts[strings.Fields(rec.Body.String())[0]]++
	}
	fmt.Println("stable:", counts["stable"], "canary:", counts["canary"])
	// Output:
	// 200 admin Admin.Example.com:443 /users
	// 200 beta example.com /api/items
	// 200 eu example.com /api/items
	// 200 gold example.com /api/orders
	// 200 v2 v2.internal /v2/~user/report
	// 400 {"detail":"dot-segment in path","status":400,"title":"Bad Request","type":"about:blank"}
	// 200 beta example.com /api/orders
	// stable: 896 canary: 104
}

func ExampleTable_Match() {
	tb, err := route.New([]route.Rule{
		{Name: "user", Hosts: []string{"api.example.com"}, Path: "/users/{id}", Methods: []string{"GET"}, Handler: http.NotFoundHandler()},
	}, route.Config{})
	if err != nil {
		panic(err)
	}
	defer tb.Close()
	for _, target := range []string{"http://API.example.com./users/caf%c3%a9", "http://api.example.com/users/..%2fadmin", "http://other.example.com/users/1"} {
		m, err := tb.Match(httptest.NewRequest("GET", target, nil))
		if err != nil {
			fmt.Println(route.StatusOf(err), err)
			continue
		}
		fmt.Println(m.Name, m.Host, m.Path, m.Params[0].Name, m.Params[0].Value)
	}
	// Output:
	// user api.example.com /users/caf%C3%A9 id café
	// 400 pathcanon: encoded path separator
	// 421 route: no route serves this host
}

// ExampleGroup puts one limit on every way into the /api backend: the
// plain path, a header-routed canary and a rewritten legacy path.
func ExampleGroup() {
	served := 0
	onePerTest := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if served > 0 {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			served++
			next.ServeHTTP(w, r)
		})
	}
	rules := route.Group([]func(http.Handler) http.Handler{onePerTest},
		route.Rule{Path: "/api/*", Handler: backend("stable")},
		route.Rule{Path: "/api/*", Headers: []route.Predicate{{Name: "X-Version", Value: "v2"}}, Handler: backend("v2")},
		route.Rule{Path: "/legacy/*", Rewrite: &route.Rewrite{StripPrefix: "/legacy", AddPrefix: "/api"}, Handler: backend("stable")},
	)
	tb, err := route.New(rules, route.Config{})
	if err != nil {
		panic(err)
	}
	defer tb.Close()
	for _, target := range []string{"/api/users", "/legacy/users"} {
		rec := httptest.NewRecorder()
		tb.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		fmt.Println(target, rec.Code)
	}
	// Output:
	// /api/users 200
	// /legacy/users 429
}
