package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/admin"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/surge"
	"github.com/gatekit/gatekit/validate"
)

// observed is what the demo shows on its admin listener: the engines by
// the name they appear under on the status page and in the metrics.
type observed struct {
	metrics    *metrics.Metrics
	pools      map[string]*balancer.Pool
	proxies    map[string]*proxy.Proxy
	caches     map[string]*cache.Cache
	limiters   map[string]*ratelimit.Limiter
	validators map[string]*validate.Validator
	surge      map[string]*surge.Detector
}

func newObserved() (*observed, error) {
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		return nil, err
	}
	return &observed{metrics: m, pools: map[string]*balancer.Pool{}, proxies: map[string]*proxy.Proxy{},
		caches: map[string]*cache.Cache{}, limiters: map[string]*ratelimit.Limiter{},
		validators: map[string]*validate.Validator{}, surge: map[string]*surge.Detector{}}, nil
}

// register adds every engine to the metrics.
func (o *observed) register() error {
	var errs []error
	for name, p := range o.pools {
		errs = append(errs, o.metrics.AddPool(name, p))
	}
	for name, p := range o.proxies {
		errs = append(errs, o.metrics.AddProxy(name, p))
	}
	for name, c := range o.caches {
		errs = append(errs, o.metrics.AddCache(name, c))
	}
	for name, l := range o.limiters {
		errs = append(errs, o.metrics.AddLimiter(name, l))
	}
	for name, v := range o.validators {
		errs = append(errs, o.metrics.AddValidator(name, v))
	}
	for name, d := range o.surge {
		errs = append(errs, o.metrics.AddSurge(name, d.Limiter(), d))
	}
	return errors.Join(errs...)
}

// adminDemo is the admin listener: status page, /metrics, /readyz and the
// token-guarded cache purge.
type adminDemo struct {
	addr, token string
	served      chan error
}

// startAdmin serves the admin handler on addr until ctx is done; ready is
// the public server's readiness.
func startAdmin(ctx context.Context, addr string, o *observed, ready func() bool, log *slog.Logger) (*adminDemo, error) {
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	h, err := admin.New(admin.Config{Ready: ready, Metrics: o.metrics, Pools: o.pools, Caches: o.caches,
		Limiters: o.limiters, Validators: o.validators, Surge: o.surge, Token: token, Logger: log})
	if err != nil {
		return nil, err
	}
	srv, err := gatekit.NewServer(h, gatekit.ServerConfig{Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	d := &adminDemo{addr: ln.Addr().String(), token: token, served: make(chan error, 1)}
	go func() { d.served <- srv.Serve(ctx, ln) }()
	return d, nil
}

func (d *adminDemo) wait() error {
	if err := <-d.served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (d *adminDemo) printTryLines() {
	fmt.Printf(`Admin (operators only) on http://%[1]s:
  open http://%[1]s/                          # the status page: routes, pools, cache, limits, surge
  curl -s http://%[1]s/metrics | grep gatekit_ # Prometheus metrics
  curl -s http://%[1]s/api/status             # the same as JSON
  curl -s -H 'Authorization: Bearer %[2]s' -d '{"cache":"cached","prefix":"http://"}' http://%[1]s/api/cache/purge

`, d.addr, d.token)
}
