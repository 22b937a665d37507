package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
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
	px, err := proxy.New(policy, proxy.Config{Key: key})
	if err != nil {
		panic(err)
	}
	defer px.Close()

	var got []string
	for range 6 {
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
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
	px, _ := proxy.New(sticky, proxy.Config{})
	defer px.Close()

	rec := httptest.NewRecorder()
	px.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookie := (&http.Response{Header: rec.Header()}).Cookies()[0]
	first := rec.Body.String()

	pinned := true
	for range 5 {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		px.ServeHTTP(rec, req)
		pinned = pinned && rec.Body.String() == first
	}
	fmt.Println(cookie.Name, "pinned:", pinned)
	// Output: gk_affinity pinned: true
}

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
	ss, _ := balancer.NewSlowStart(balancer.NewRoundRobin(pool),
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

// Outlier detection driven with explicit times, as tests and simulations do.
func ExampleOutlier_ObserveAt() {
	ups, _ := balancer.ParseUpstreams("10.0.0.1:80,10.0.0.2:80,10.0.0.3:80")
	pool, _ := balancer.NewPool(ups)
	o, _ := balancer.NewOutlier(balancer.NewRoundRobin(pool), balancer.OutlierConfig{Consecutive: 3, BaseEjection: 30 * time.Second})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := pool.Targets()[1]
	for range 3 {
		o.ObserveAt(bad, balancer.Result{Status: http.StatusBadGateway}, t0)
	}
	until, ejected := o.Ejected(bad)
	fmt.Println(ejected, until.Sub(t0), pool.Available())
	o.UpdateAt(t0.Add(30 * time.Second))
	fmt.Println(pool.Available())
	// Output:
	// true 30s 2
	// 3
}

// Health check verdicts with explicit times: two failures are not enough
// to take a target out (Fall is 3), and a flapping target never flips.
func ExampleHealthChecker_ReportAt() {
	ups, _ := balancer.ParseUpstreams("10.0.0.1:80")
	pool, _ := balancer.NewPool(ups)
	hc, _ := balancer.NewHealthChecker(map[string]*balancer.Pool{"api": pool}, balancer.HealthConfig{Path: "/healthz"})
	defer hc.Close()
	t := pool.Targets()[0]
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := errors.New("status 503 outside 200-399")
	for _, err := range []error{fail, fail, nil, fail, fail, nil} {
		hc.ReportAt(t, err, now)
		now = now.Add(2 * time.Second)
	}
	st, _ := hc.Status(t)
	fmt.Println(st.State, pool.Available())
	for range 3 {
		hc.ReportAt(t, fail, now)
	}
	st, _ = hc.Status(t)
	fmt.Println(st.State, pool.Available())
	// Output:
	// up 1
	// down 0
}

// DNS discovery with an injected resolver; the last good set survives a
// resolver failure.
func ExampleNewDNS() {
	pool, _ := balancer.NewPool(nil)
	answers := [][]netip.Addr{
		{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
		nil, // SERVFAIL
	}
	n := 0
	d, _ := balancer.NewDNS(pool, balancer.DNSConfig{
		Name: "api.internal",
		Port: 8080,
		LookupNetIP: func(ctx context.Context, network, host string) ([]netip.Addr, error) {
			a := answers[n]
			n++
			if a == nil {
				return nil, errors.New("SERVFAIL")
			}
			return a, nil
		},
	})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 2 {
		err := d.RefreshAt(context.Background(), now)
		fmt.Println(pool.Len(), err)
	}
	// Output:
	// 2 <nil>
	// 2 SERVFAIL
}

// One checker for the same backend in two pools: the address is checked
// once, and its verdict takes it out of both pools.
func ExampleNewHealthChecker() {
	api, _ := balancer.NewPool(mustUpstreams("10.0.0.1:80,10.0.0.2:80"))
	web, _ := balancer.NewPool(mustUpstreams("10.0.0.1:80"))
	checks, _ := balancer.NewHealthChecker(map[string]*balancer.Pool{"api": api, "web": web},
		balancer.HealthConfig{Fall: 1})
	defer checks.Close()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	checks.ReportAt(api.Targets()[0], errors.New("status 503 outside 200-399"), t0)
	for _, st := range checks.Statuses() {
		fmt.Println(st.Target, st.Pools, st.Healthy)
	}
	fmt.Println("available:", api.Available(), web.Available())
	// Output:
	// http://10.0.0.1:80 [api web] false
	// http://10.0.0.2:80 [api] true
	// available: 1 0
}

// StatusOf says whether a target can be picked now, and why not.
func ExampleStatusOf() {
	pool, _ := balancer.NewPool(mustUpstreams("10.0.0.1:80,10.0.0.2:80"))
	breaker, _ := balancer.NewBreaker(balancer.NewRoundRobin(pool), balancer.BreakerConfig{MaxInFlight: 1})
	a, b := pool.Targets()[0], pool.Targets()[1]
	pool.SetDraining(a, true)
	t, done, _ := breaker.Pick(context.Background(), "")
	fmt.Println("picked", t)
	fmt.Printf("%+v\n", balancer.StatusOf(breaker, a))
	fmt.Printf("%+v\n", balancer.StatusOf(breaker, b))
	done(balancer.Result{Status: 200})
	// Output:
	// picked http://10.0.0.2:80
	// {Target:http://10.0.0.1:80 Pickable:false CheckedDown:false Ejected:false Parked:false Draining:true Full:false InFlight:0}
	// {Target:http://10.0.0.2:80 Pickable:false CheckedDown:false Ejected:false Parked:false Draining:false Full:true InFlight:1}
}

// PickUntil re-asks a policy until a pick is accepted: here a hashing
// policy, asked for a target other than the one a key maps to (as a retry
// does), answers with another.
func ExamplePickUntil() {
	pool, _ := balancer.NewPool(mustUpstreams("10.0.0.1:80,10.0.0.2:80,10.0.0.3:80"))
	hash, _ := balancer.NewHash(pool, balancer.HashConfig{})
	first, done, _ := hash.Pick(context.Background(), "user-42")
	done(balancer.Result{Canceled: true})
	other, done, _ := balancer.PickUntil(context.Background(), hash, "user-42",
		func(t *balancer.Target) bool { return t != first })
	defer done(balancer.Result{Status: 200})
	fmt.Println(other != nil && other != first)
	// Output: true
}

func mustUpstreams(list string) []balancer.Upstream {
	ups, err := balancer.ParseUpstreams(list)
	if err != nil {
		panic(err)
	}
	return ups
}

// h2c:// names a target spoken to in plaintext HTTP/2 with prior
// knowledge, as gRPC servers without TLS are; a checker can probe such
// targets with the gRPC health protocol.
func ExampleParseUpstreams_gRPC() {
	ups, _ := balancer.ParseUpstreams("h2c://10.0.0.1:50051, h2c://10.0.0.2:50051, https://10.0.0.3:443")
	pool, _ := balancer.NewPool(ups)
	for _, t := range pool.Targets() {
		fmt.Println(t.URL().Scheme, t.URL().Host)
	}
	hc, _ := balancer.NewHealthChecker(map[string]*balancer.Pool{"greeter": pool},
		balancer.HealthConfig{GRPC: true, GRPCService: "helloworld.Greeter"})
	defer hc.Close()
	// Output:
	// h2c 10.0.0.1:50051
	// h2c 10.0.0.2:50051
	// https 10.0.0.3:443
}
