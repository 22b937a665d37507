package balancer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/reqkey"
)

// backends starts n demo backends that answer with their name.
func backends(names ...string) (urls []string, closeAll func()) {
	var srvs []*httptest.Server
	for _, name := range names {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
		srvs = append(srvs, srv)
		urls = append(urls, srv.URL)
	}
	return urls, func() {
		for _, s := range srvs {
			s.Close()
		}
	}
}

// counts formats how many times each name occurs.
func counts(names []string) string {
	m := map[string]int{}
	for _, n := range names {
		m[n]++
	}
	var out []string
	for n, c := range m {
		out = append(out, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// Building a proxy from a list of upstreams and a policy name, as a
// command-line load balancer does with -upstreams, -policy and -hash-key.
func ExampleNewPolicy() {
	urls, closeAll := backends("a", "b", "c")
	defer closeAll()

	ups, err := balancer.ParseUpstreams(strings.Join(urls, ","))
	if err != nil {
		panic(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		panic(err)
	}
	policy, err := balancer.NewPolicy("round-robin", pool, balancer.PolicyConfig{})
	if err != nil {
		panic(err)
	}
	key, err := reqkey.Parse("") // e.g. "ip", "header:X-User" for -policy hash
	if err != nil {
		panic(err)
	}
	proxy, err := balancer.NewProxy(policy, balancer.Config{Key: key})
	if err != nil {
		panic(err)
	}
	defer proxy.Close()

	var got []string
	for range 6 {
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		got = append(got, rec.Body.String())
	}
	fmt.Println(counts(got))
	// Output: a=2 b=2 c=2
}

// The engine works without HTTP: pick a target, use it, report the outcome.
func ExampleWeightedRoundRobin() {
	pool, err := balancer.NewPool([]balancer.Upstream{
		{URL: &url.URL{Scheme: "http", Host: "a.internal:8080"}, Weight: 5},
		{URL: &url.URL{Scheme: "http", Host: "b.internal:8080"}, Weight: 1},
		{URL: &url.URL{Scheme: "http", Host: "c.internal:8080"}, Weight: 1},
	})
	if err != nil {
		panic(err)
	}
	wrr := balancer.NewWeightedRoundRobin(pool)
	var got []string
	for range 7 {
		t, done, err := wrr.Pick(context.Background(), "")
		if err != nil {
			panic(err)
		}
		got = append(got, t.URL().Hostname()[:1])
		done(balancer.Result{Status: 200})
	}
	fmt.Println(counts(got))
	// Output: a=5 b=1 c=1
}

// Consistent hashing sends a key to the same target every time; removing
// a target moves only the keys it held.
func ExampleHash() {
	var ups []balancer.Upstream
	for _, h := range []string{"a", "b", "c", "d"} {
		ups = append(ups, balancer.Upstream{URL: &url.URL{Scheme: "http", Host: h + ".internal"}})
	}
	pool, _ := balancer.NewPool(ups)
	h, err := balancer.NewHash(pool, balancer.HashConfig{BoundedLoad: 1.25})
	if err != nil {
		panic(err)
	}
	pick := func(key string) *balancer.Target {
		t, done, err := h.Pick(context.Background(), key)
		if err != nil {
			panic(err)
		}
		done(balancer.Result{Status: 200})
		return t
	}
	first := pick("user-42")
	fmt.Println("same target again:", pick("user-42") == first)

	// Remove a target that does not hold user-42.
	for _, t := range pool.Targets() {
		if t != first {
			pool.Remove(t.URL())
			break
		}
	}
	fmt.Println("unaffected key stays:", pick("user-42") == first)
	// Output:
	// same target again: true
	// unaffected key stays: true
}

// Sticky sessions: the first response sets a signed cookie naming the
// target; requests that carry it go back to that target.
func ExampleSticky() {
	urls, closeAll := backends("a", "b", "c")
	defer closeAll()
	ups, _ := balancer.ParseUpstreams(strings.Join(urls, ","))
	pool, _ := balancer.NewPool(ups)
	sticky, err := balancer.NewSticky(pool, balancer.NewRoundRobin(pool), balancer.StickyConfig{
		Secret: []byte("a secret shared by the gateway fleet"),
	})
	if err != nil {
		panic(err)
	}
	proxy, _ := balancer.NewProxy(sticky, balancer.Config{})
	defer proxy.Close()

	rec := httptest.NewRecorder()
	proxy.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := (&http.Response{Header: rec.Header()}).Cookies()[0]
	first := rec.Body.String()

	pinned := true
	for range 5 {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, req)
		pinned = pinned && rec.Body.String() == first
	}
	fmt.Println(cookie.Name, "pinned:", pinned)
	// Output: gk_affinity pinned: true
}

// With no available target, the proxy answers 503 problem+json with
// Retry-After.
func ExampleProxy_noTargets() {
	pool, _ := balancer.NewPool(nil)
	lr, _ := balancer.NewLeastRequest(pool, balancer.LoadConfig{})
	proxy, _ := balancer.NewProxy(lr, balancer.Config{})
	defer proxy.Close()
	rec := httptest.NewRecorder()
	proxy.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), "Retry-After:", rec.Header().Get("Retry-After"))
	// Output: 503 application/problem+json Retry-After: 1
}
