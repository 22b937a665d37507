package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

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
