// Command gateway is the gatekit demo: an API gateway in front of three demo
// backends that it starts in-process on loopback.
//
//	go run ./examples/gateway
//
// It serves on 127.0.0.1:8080, and over HTTPS with HTTP/2 on 127.0.0.1:8443
// with a development certificate, with its admin listener (status page,
// Prometheus metrics, readiness, cache purge) on 127.0.0.1:9090, and
// prints a few curl lines to try. Flags
// point it at real upstreams instead:
//
//	go run ./examples/gateway -listen 127.0.0.1:9000 -upstreams 127.0.0.1:3000,127.0.0.1:3001
//
// Ctrl-C shuts it down gracefully.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/pathcanon"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/surge"
	"github.com/gatekit/gatekit/validate"
)

// petstoreSpec describes the /store API the demo validates.
//
//go:embed petstore.yaml
var petstoreSpec []byte

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := fs.String("upstreams", "", "comma-separated upstreams (host:port or URLs); empty starts three demo backends")
	tlsListen := fs.String("tls-listen", "127.0.0.1:8443", "address to serve HTTPS (HTTP/2) on with a development certificate; empty disables")
	adminListen := fs.String("admin", "127.0.0.1:9090", "address of the admin listener (status page, /metrics, /readyz, cache purge); empty disables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	list := *upstreams
	if list == "" {
		bs, err := startBackends(3)
		if err != nil {
			return err
		}
		defer closeBackends(bs)
		var addrs []string
		for _, b := range bs {
			addrs = append(addrs, b.ln.Addr().String())
		}
		list = strings.Join(addrs, ",")
	}
	g, err := newGateway(list, log)
	if err != nil {
		return err
	}
	defer g.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv, err := gatekit.NewServer(g, gatekit.ServerConfig{Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	printTryLines(ln.Addr().String(), list)
	if *tlsListen != "" {
		hctx, stopHTTPS := context.WithCancel(ctx)
		https, err := startHTTPS(hctx, *tlsListen, g, log)
		if err != nil {
			stopHTTPS()
			ln.Close()
			return err
		}
		https.printTryLine()
		defer func() { stopHTTPS(); _ = https.wait() }()
	}
	if *adminListen != "" {
		actx, stopAdmin := context.WithCancel(ctx)
		adm, err := startAdmin(actx, *adminListen, g.observed, srv.Ready, log)
		if err != nil {
			stopAdmin()
			ln.Close()
			return err
		}
		adm.printTryLines()
		defer func() { stopAdmin(); _ = adm.wait() }()
	}
	err = srv.Serve(ctx, ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// demo is the assembled demo gateway, what it must close, and what its
// admin listener shows.
type demo struct {
	http.Handler
	closers  []func() error
	observed *observed
}

func (d *demo) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		_ = d.closers[i]()
	}
}

// newProxy builds a proxy with the named policy over upstreams, shown as
// name on the admin listener.
func (d *demo) newProxy(name string, ups []balancer.Upstream, policy string, log *slog.Logger) (*proxy.Proxy, error) {
	pool, err := balancer.NewPool(ups)
	if err != nil {
		return nil, err
	}
	p, err := balancer.NewPolicy(policy, pool, balancer.PolicyConfig{})
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(p, proxy.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, px.Close)
	d.observed.pools[name], d.observed.proxies[name] = pool, px
	return px, nil
}

// newGateway assembles the demo gateway in front of the upstreams in list:
// the last upstream plays the new version ("v2", the canary), the others
// the stable one (with a single upstream, it is both).
func newGateway(list string, log *slog.Logger) (*demo, error) {
	ups, err := balancer.ParseUpstreams(list)
	if err != nil {
		return nil, err
	}
	stableUps, v2Ups := ups, ups[len(ups)-1:]
	if len(ups) > 1 {
		stableUps = ups[:len(ups)-1]
	}
	o, err := newObserved()
	if err != nil {
		return nil, err
	}
	d := &demo{observed: o}
	all, err := d.newProxy("all", ups, "least-request", log)
	if err != nil {
		d.Close()
		return nil, err
	}
	stable, err := d.newProxy("stable", stableUps, "round-robin", log)
	if err != nil {
		d.Close()
		return nil, err
	}
	v2, err := d.newProxy("v2", v2Ups, "round-robin", log)
	if err != nil {
		d.Close()
		return nil, err
	}
	// Rate limits: each client IP (IPv6 by /64) may make 2 requests a
	// second to /api with bursts of 10, and 1,000 an hour; /reports is
	// expensive, so all clients together get 2 a second, queued (in arrival
	// order, up to 3 s) rather than rejected.
	perIP, err := ratelimit.New(ratelimit.Config{
		Rates: []ratelimit.Rate{{Count: 2, Per: time.Second, Burst: 10}, ratelimit.PerHour(1000)},
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	queued, err := ratelimit.New(ratelimit.Config{
		Rates: []ratelimit.Rate{{Count: 2, Per: time.Second, Burst: 2}},
		Key:   reqkey.Global, Mode: ratelimit.Queue, MaxWait: 3 * time.Second, MaxQueue: 20,
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	limitAPI := []func(http.Handler) http.Handler{ratelimit.Middleware(perIP)}
	// Validation: /store is described by an embedded OpenAPI document;
	// requests that break it are answered 400/404/405/413/415 by the
	// gateway and never reach an upstream.
	petstore, err := validate.Load(petstoreSpec, validate.Config{MaxBodyBytes: 64 << 10})
	if err != nil {
		d.Close()
		return nil, err
	}
	// A shared cache (RFC 9111, ristretto, 64 MiB) for /cached: responses
	// the upstreams mark cacheable are answered from memory; concurrent
	// misses make one upstream request.
	c, err := cache.New(nil, cache.Config{MaxBytes: 64 << 20})
	if err != nil {
		d.Close()
		return nil, err
	}
	d.closers = append(d.closers, c.Close)
	// Surge protection for the default route: an adaptive concurrency
	// limit over all upstreams, learnt from their latency; the excess
	// waits up to 100ms, then gets 503 with Retry-After. Surge events
	// ("surge started", "surge sustained", "surge ended") go to the log.
	protect, err := surge.NewLimiter(surge.LimiterConfig{})
	if err != nil {
		d.Close()
		return nil, err
	}
	spikes, err := surge.NewDetector(protect, surge.DetectorConfig{Logger: log})
	if err != nil {
		d.Close()
		return nil, err
	}
	spikes.Start()
	d.closers = append(d.closers, spikes.Close)
	// Every way into the /api backends shares the per-client limit: the
	// header-, cookie- and body-routed v2 rules, the canary, the legacy
	// rewrite and the plain /api rule form one group.
	apiRules := route.Group(limitAPI,
		// Header- and cookie-based routing: testers reach v2 explicitly.
		route.Rule{Name: "v2-header", Path: "/api/*", Headers: []route.Predicate{{Name: "X-Version", Value: "v2"}}, Handler: v2},
		route.Rule{Name: "v2-cookie", Path: "/api/*", Cookies: []route.Predicate{{Name: "beta", Value: "1"}}, Handler: v2},
		// Body-based routing: gold-tier orders go to v2.
		route.Rule{Name: "gold-orders", Path: "/api/orders", Methods: []string{"POST"},
			Body: []route.Predicate{{Name: "/tier", Value: "gold"}}, Handler: v2},
		// Canary: 10% of clients (stable per client IP) see v2 on /api/search.
		route.Rule{Name: "search-canary", Path: "/api/search", SplitKey: reqkey.ClientIP, Split: []route.Backend{
			{Name: "stable", Weight: 90, Handler: stable},
			{Name: "canary", Weight: 10, Handler: v2},
		}},
		// A rewrite: /legacy/x reaches the upstreams as /api/x.
		route.Rule{Name: "legacy", Path: "/legacy/*", Rewrite: &route.Rewrite{StripPrefix: "/legacy", AddPrefix: "/api"}, Handler: stable},
		// Everything else under /api: the stable version.
		route.Rule{Name: "api", Path: "/api/*", Handler: stable},
	)
	rules := append(apiRules,
		// Everything else: least-request (power of two choices) over all upstreams.
		route.Rule{Name: "default", Middleware: []func(http.Handler) http.Handler{surge.Middleware(protect, surge.MiddlewareConfig{})}, Handler: all},
		// The validated API.
		route.Rule{Name: "store", Path: "/store/*", Middleware: []func(http.Handler) http.Handler{validate.Middleware(petstore)}, Handler: stable},
		// Cached responses (the demo backends send Cache-Control: public, max-age=30 here).
		route.Rule{Name: "cached", Path: "/cached/*", Middleware: []func(http.Handler) http.Handler{cache.Middleware(c)}, Handler: all},
		// Reports: queued behind a global rate.
		route.Rule{Name: "reports", Path: "/reports/*", Middleware: []func(http.Handler) http.Handler{ratelimit.Middleware(queued)}, Handler: stable},
	)
	// Paths are matched case-insensitively and ';' path parameters are
	// refused, so that "/API/users" or "/store;v=1/pets/0" cannot skip the
	// limit or the validation of their plain twins on backends that fold
	// case or strip parameters (Express, ASP.NET, Tomcat, Jetty).
	g, err := gatekit.New(rules, gatekit.Config{Logger: log, Route: route.Config{
		Path: pathcanon.Options{CaseInsensitive: true, Params: pathcanon.RejectParams},
	}})
	if err != nil {
		d.Close()
		return nil, err
	}
	o.limiters["api-per-client"], o.limiters["reports"] = perIP, queued
	o.validators["store"], o.caches["cached"], o.surge["default"] = petstore, c, spikes
	if err := o.register(); err != nil {
		d.Close()
		return nil, err
	}
	// Requests per rule, latency and bytes, for /metrics and the status page.
	d.Handler = metrics.Middleware(o.metrics)(g)
	d.closers = append(d.closers, g.Close)
	return d, nil
}

func printTryLines(addr, upstreams string) {
	fmt.Printf(`gatekit demo gateway on http://%[1]s in front of %[2]s

Try:
  curl -s http://%[1]s/hello                      # least-request over all backends (see "backend")
  curl -s http://%[1]s/api/users                  # /api: the stable backends, round robin
  curl -s -H 'X-Version: v2' http://%[1]s/api/users       # header routing: the v2 backend
  curl -s -b 'beta=1' http://%[1]s/api/users              # cookie routing: the v2 backend
  curl -s -d '{"tier":"gold"}' http://%[1]s/api/orders    # JSON body routing: the v2 backend
  curl -s http://%[1]s/api/search                 # canary: 10%% of clients see v2, always the same ones
  curl -s http://%[1]s/legacy/users               # rewritten upstream to /api/users
  curl -si http://%[1]s/api/..%%2Fadmin           # encoded traversal: 400 problem+json
  curl -si 'http://%[1]s/api;x=1/users'           # a ';' path parameter: 400 problem+json
  curl -s http://%[1]s/API/users                  # case-insensitive: the /api rule and its limit
  curl -si http://%[1]s/cached/news | grep -i -e cache-status -e '"hits"'   # twice: the second is a cache hit
  curl -s 'http://%[1]s/store/pets?limit=5'      # valid for the OpenAPI spec: proxied
  curl -s -d '{"name":"Rex","kind":"cow"}' -H 'Content-Type: application/json' http://%[1]s/store/pets   # 400 with every bad field
  curl -s http://%[1]s/store/pets/0               # 400: id must be at least 1
  for i in $(seq 12); do curl -s -o /dev/null -w '%%{http_code} ' http://%[1]s/api/users; done   # 429s past the burst
  for i in $(seq 6); do curl -s -o /dev/null -w '%%{http_code} ' http://%[1]s/reports/daily & done; wait   # queued, all 200
  curl -s -H 'X-Request-ID: my-id-1' http://%[1]s/hello   # the request ID is kept and passed upstream
  curl -s -H 'X-Forwarded-For: 6.6.6.6' http://%[1]s/     # a spoofed client address is ignored
  curl -si -H 'X_Forwarded_For: 1.2.3.4' http://%[1]s/    # header names with '_' are rejected (400)
  for i in $(seq 300); do curl -s -o /dev/null -w '%%{http_code} ' 'http://%[1]s/slow?ms=1000' & sleep 0.01; done; wait   # a spike: 503s past the adaptive limit, "surge started" in the log

Ctrl-C stops the gateway gracefully.
`, addr, upstreams)
}
