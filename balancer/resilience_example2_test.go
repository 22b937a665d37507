package balancer_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

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
