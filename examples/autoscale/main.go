// Command autoscale runs the whole surge loop on loopback, in about 20
// seconds: a gateway in front of one deliberately small backend, a load that
// spikes to three times what that backend can serve, and a surge hook that
// starts more backends in-process and adds them to the pool, each ramping up
// with slow start.
//
//	go run ./examples/autoscale
//
// It prints a timeline, one row a second: the load offered, the goodput
// (requests answered 200), the requests shed (503 at once, instead of
// piling up in the backend), the adaptive concurrency limit, the p99
// latency of the requests served, the number of backends, and the surge
// events. A person watching sees the spike, the shedding, the scale-out,
// the limit growing with the new capacity, and the recovery.
//
// With -webhook the events travel as signed JSON POSTs (surge.Webhook) to
// a receiver on loopback that checks the signature and scales out, as a
// platform outside the process would. Everything binds 127.0.0.1 and
// stops by itself; -spike and -backend-ms change the shape of the run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/surge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("autoscale", flag.ContinueOnError)
	spike := fs.Float64("spike", 3, "the spike's load, in multiples of one backend's capacity")
	backendMS := fs.Int("backend-ms", 50, "each backend's service time in milliseconds (it serves 4 requests at once)")
	webhook := fs.Bool("webhook", false, "deliver the surge events as signed webhooks to an in-process receiver, which scales out")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *spike <= 0 || *backendMS <= 0 {
		fmt.Fprintln(os.Stderr, "autoscale: -spike and -backend-ms must be positive")
		os.Exit(2)
	}
	cfg := defaultScenario()
	cfg.spike = *spike
	cfg.service = time.Duration(*backendMS) * time.Millisecond
	cfg.webhook = *webhook
	if err := run(ctx, os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "autoscale:", err)
		os.Exit(1)
	}
}

// scenario shapes a run.
type scenario struct {
	slots   int           // requests one backend serves at once
	service time.Duration // one backend's service time
	// calm, surge and after are how long the load lasts before, during
	// and after the spike.
	calm, surge, after time.Duration
	// base is the load before and after the spike, spike the load during
	// it, in multiples of one backend's capacity.
	base, spike float64
	step, most  int           // backends the hook adds per event, and the most there may be
	rampUp      time.Duration // the slow start window of new backends
	detector    surge.DetectorConfig
	// webhook sends the events through a signed surge.Webhook to a
	// receiver on loopback, as a platform outside the process would get
	// them, instead of calling the scale-out hook directly.
	webhook bool
}

func defaultScenario() scenario {
	return scenario{
		slots: 4, service: 50 * time.Millisecond,
		calm: 3 * time.Second, surge: 12 * time.Second, after: 5 * time.Second,
		base: 0.75, spike: 3,
		step: 2, most: 6, rampUp: 3 * time.Second,
		// The detector's windows are compressed to fit the demo: a real
		// deployment keeps the defaults (10 s against 5 min, a 30 s cooldown).
		detector: surge.DetectorConfig{
			Interval: 100 * time.Millisecond, ShortWindow: time.Second, LongWindow: 10 * time.Second,
			StartAfter: 300 * time.Millisecond, Cooldown: 3 * time.Second, SustainEvery: 3 * time.Second,
		},
	}
}

// run plays the scenario and writes the timeline to out.
func run(ctx context.Context, out io.Writer, sc scenario) error {
	fleet := &fleet{slots: sc.slots, service: sc.service}
	defer fleet.close()
	first, err := fleet.start(1)
	if err != nil {
		return err
	}
	pool, err := balancer.NewPool(first)
	if err != nil {
		return err
	}
	lr, err := balancer.NewPolicy("least-request", pool, balancer.PolicyConfig{})
	if err != nil {
		return err
	}
	ss, err := balancer.NewSlowStart(lr, balancer.SlowStartConfig{Window: sc.rampUp})
	if err != nil {
		return err
	}
	px, err := proxy.New(ss, proxy.Config{})
	if err != nil {
		return err
	}
	defer px.Close()

	// MinLimit stays below what one backend serves at once, so that the
	// limiter can measure its no-load latency.
	lim, err := surge.NewLimiter(surge.LimiterConfig{MinLimit: 2})
	if err != nil {
		return err
	}
	tl := &timeline{}
	// The hook: on a start and while the surge is sustained, "ask the
	// platform" for more backends (here: start them in-process) and
	// absorb them into the pool with slow start.
	scaleOut := func(ev surge.Event, via string) {
		note := ev.Kind.String() + via
		if ev.Kind != surge.Ended && pool.Len() < sc.most {
			ups, err := fleet.start(min(sc.step, sc.most-pool.Len()))
			if err == nil {
				_, err = surge.Absorb(pool, ss, ups)
			}
			if err != nil {
				note += " (scale-out failed: " + err.Error() + ")"
			} else {
				note += fmt.Sprintf(", +%d backends", len(ups))
			}
		}
		tl.event(note)
	}
	dcfg := sc.detector
	dcfg.OnEvent = func(ev surge.Event) { scaleOut(ev, "") }
	if sc.webhook {
		hook, err := startReceiver(scaleOut)
		if err != nil {
			return err
		}
		defer hook.Close()
		dcfg.OnEvent = hook.Notify
	}
	det, err := surge.NewDetector(lim, dcfg)
	if err != nil {
		return err
	}
	det.Start()
	defer det.Close()

	gw := &http.Server{Handler: surge.Middleware(lim, surge.MiddlewareConfig{})(px), ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = gw.Serve(ln) }()
	defer gw.Close()

	capacity := float64(sc.slots) / sc.service.Seconds()
	fmt.Fprintf(out, "gateway http://%s, one backend serving %d at once in %v: capacity %.0f requests/s\n", ln.Addr(), sc.slots, sc.service, capacity)
	fmt.Fprintf(out, "load: %.0f/s for %v, a spike of %.0f/s for %v, %.0f/s for %v\n\n",
		sc.base*capacity, sc.calm, sc.spike*capacity, sc.surge, sc.base*capacity, sc.after)
	fmt.Fprintf(out, "%4s %8s %8s %6s %6s %8s %8s  %s\n", "t", "offered", "goodput", "shed", "limit", "p99", "backends", "events")

	load := &loadgen{url: "http://" + ln.Addr().String() + "/", tl: tl,
		client: &http.Client{Timeout: 40 * sc.service, Transport: &http.Transport{MaxIdleConnsPerHost: 4096}}}
	defer load.client.CloseIdleConnections()
	phases := []struct {
		rate float64
		d    time.Duration
	}{{sc.base * capacity, sc.calm}, {sc.spike * capacity, sc.surge}, {sc.base * capacity, sc.after}}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, ph := range phases {
			if !load.offer(ctx, ph.rate, ph.d) {
				return
			}
		}
	}()
	// When the load is over, the timeline goes on until the detector has
	// seen the surge end (with no traffic every signal goes quiet, so
	// that takes about Cooldown), at most a bounded while.
	var over <-chan time.Time
	summary := func() {
		tl.print(out, "end", lim, pool)
		st := det.Stats()
		fmt.Fprintf(out, "\nsurges started %d, ended %d; %d backends; limit %d\n", st.Started, st.Ended, pool.Len(), lim.Limit())
	}
	for sec := 1; ; {
		select {
		case <-ctx.Done():
			load.wait()
			return nil
		case <-done:
			done = nil
			load.wait()
			over = time.After(sc.detector.Cooldown + 5*time.Second)
		case <-over:
			summary()
			return nil
		case <-ticker.C:
			tl.print(out, fmt.Sprintf("%ds", sec), lim, pool)
			sec++
			if done == nil && det.Stats().State == surge.Calm {
				summary()
				return nil
			}
		}
	}
}

// timeline gathers what happened in the current second.
type timeline struct {
	mu                  sync.Mutex
	offered, good, shed int
	lats                []time.Duration
	events              []string
}

func (tl *timeline) event(s string) {
	tl.mu.Lock()
	tl.events = append(tl.events, s)
	tl.mu.Unlock()
}

func (tl *timeline) print(out io.Writer, label string, lim *surge.Limiter, pool *balancer.Pool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	p99 := "-"
	if len(tl.lats) > 0 {
		slices.Sort(tl.lats)
		p99 = tl.lats[len(tl.lats)*99/100].Round(time.Millisecond).String()
	}
	fmt.Fprintf(out, "%4s %8d %8d %6d %6d %8s %8d  %s\n", label, tl.offered, tl.good, tl.shed,
		lim.Limit(), p99, pool.Len(), strings.Join(tl.events, "; "))
	tl.offered, tl.good, tl.shed, tl.lats, tl.events = 0, 0, 0, tl.lats[:0], nil
}

// loadgen offers an open-loop load: requests go out at the set rate
// whether or not earlier ones were answered, as users' requests do.
type loadgen struct {
	url    string
	client *http.Client
	tl     *timeline
	wg     sync.WaitGroup
}

// offer sends rate requests a second for d; false if ctx ended first.
func (g *loadgen) offer(ctx context.Context, rate float64, d time.Duration) bool {
	start, sent := time.Now(), 0
	for time.Since(start) < d {
		if ctx.Err() != nil {
			return false
		}
		for due := int(time.Since(start).Seconds() * rate); sent < due; sent++ {
			g.wg.Add(1)
			go g.one(ctx)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

func (g *loadgen) one(ctx context.Context) {
	defer g.wg.Done()
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	resp, err := g.client.Do(req)
	status := 0
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			status = resp.StatusCode
		}
	}
	lat := time.Since(t0)
	g.tl.mu.Lock()
	defer g.tl.mu.Unlock()
	g.tl.offered++
	switch status {
	case http.StatusOK:
		g.tl.good++
		g.tl.lats = append(g.tl.lats, lat)
	case http.StatusServiceUnavailable:
		g.tl.shed++
	}
}

func (g *loadgen) wait() { g.wg.Wait() }

// fleet starts demo backends: each serves slots requests at once in
// service each; more wait inside it, in arrival order, and get slower.
type fleet struct {
	slots   int
	service time.Duration
	mu      sync.Mutex
	servers []*http.Server
}

func (f *fleet) start(n int) ([]balancer.Upstream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ups []balancer.Upstream
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		slots := make(chan struct{}, f.slots)
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
			case <-r.Context().Done():
				return
			}
			time.Sleep(f.service)
			<-slots
			io.WriteString(w, "ok\n")
		})}
		go func() { _ = srv.Serve(ln) }()
		f.servers = append(f.servers, srv)
		ups = append(ups, balancer.Upstream{URL: &url.URL{Scheme: "http", Host: ln.Addr().String()}})
	}
	return ups, nil
}

func (f *fleet) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.servers {
		_ = s.Close()
	}
}
