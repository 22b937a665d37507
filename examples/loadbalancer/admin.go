package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/admin"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/ratelimit/redisrate"
	"github.com/gatekit/gatekit/surge"
)

// operated is what -admin shows: the upstream pool and its proxy, and the
// cache, surge protection and rate limiter when they are on.
type operated struct {
	pool    *balancer.Pool
	proxy   *proxy.Proxy
	cache   *cache.Cache       // nil without -cache
	surge   *surge.Detector    // nil without -surge
	limiter *ratelimit.Limiter // nil without -rate, or with -redis
	shared  *redisrate.Limiter // nil without -redis
	m       *metrics.Metrics   // built by instrument
}

// instrument registers what o holds with fresh metrics and returns h
// wrapped so that requests are counted; only with -admin, so that the
// benchmarked program pays nothing for it otherwise.
func (o *operated) instrument(h http.Handler) (http.Handler, error) {
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		return nil, err
	}
	errs := []error{m.AddPool("upstreams", o.pool), m.AddProxy("upstreams", o.proxy)}
	if o.cache != nil {
		errs = append(errs, m.AddCache("upstreams", o.cache))
	}
	if o.surge != nil {
		errs = append(errs, m.AddSurge("upstreams", o.surge.Limiter(), o.surge))
	}
	if o.limiter != nil {
		errs = append(errs, m.AddLimiter("rate", o.limiter))
	}
	if o.shared != nil {
		errs = append(errs, m.AddSharedLimiter("rate", o.shared))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.m = m
	return metrics.Middleware(m)(h), nil
}

// serveAdmin serves the admin handler (status page, /metrics, /readyz,
// /api/status; cache purge with the token in $GATEKIT_ADMIN_TOKEN) on ln
// until ctx is done.
func (o *operated) serveAdmin(ctx context.Context, ln net.Listener, ready func() bool, log *slog.Logger) error {
	cfg := admin.Config{Ready: ready, Metrics: o.m, Pools: map[string]*balancer.Pool{"upstreams": o.pool},
		Token: os.Getenv("GATEKIT_ADMIN_TOKEN"), Logger: log}
	if o.cache != nil {
		cfg.Caches = map[string]*cache.Cache{"upstreams": o.cache}
	}
	if o.surge != nil {
		cfg.Surge = map[string]*surge.Detector{"upstreams": o.surge}
	}
	if o.limiter != nil {
		cfg.Limiters = map[string]*ratelimit.Limiter{"rate": o.limiter}
	}
	if o.shared != nil {
		cfg.SharedLimiters = map[string]metrics.SharedLimiter{"rate": o.shared}
	}
	h, err := admin.New(cfg)
	if err != nil {
		return err
	}
	srv, err := gatekit.NewServer(h, gatekit.ServerConfig{Logger: log})
	if err != nil {
		return err
	}
	return srv.Serve(ctx, ln)
}
