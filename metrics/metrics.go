// Package metrics exports a gateway's state as Prometheus metrics.
//
// Engines keep cheap counters of their own (the Stats method of a cache,
// limiter, validator, route table or proxy, and of a limit shared through
// Redis, whose Stats are ratelimit's SharedStats, so that this package
// does not depend on Redis); a Metrics value reads them
// when Prometheus scrapes, so nothing Prometheus-specific enters the
// engine packages and nothing is recorded twice. The one thing engines do
// not count is the request itself: Observe (or Middleware) records each
// request's rule, method, status class, latency and bytes, without
// allocating once a rule's series exist.
//
// Every metric is named gatekit_<subsystem>_<name>, with _total for
// counters and base units (seconds, bytes), as Prometheus's naming
// conventions ask.
//
// # Scaling on the metrics
//
// The surge state (gatekit_surge_state: 0 calm, 1 surging) and the
// adaptive limit are plain gauges, so an autoscaler can read them: a
// Kubernetes HorizontalPodAutoscaler through the Prometheus adapter as an
// external metric, or KEDA's Prometheus scaler with a query such as
// max(gatekit_surge_state{pool="api"}).
package metrics

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultBuckets are the request latency histogram's bucket bounds, in
// seconds: 1 ms to 10 s, dense where gateways answer.
var defaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Config configures a Metrics. The zero value of each field selects the
// default documented on it.
type Config struct {
	// Registry receives the collectors. If nil, a new registry of its
	// own, with the Go runtime and process collectors, served by Handler.
	Registry *prometheus.Registry
	// Buckets are the bounds of the request latency histogram, in
	// seconds, ascending. If nil, 1 ms to 10 s in 13 buckets.
	Buckets []float64
	// MaxRules bounds the number of distinct rule label values; requests
	// of further rules are counted under rule="other", so that a
	// misconfiguration cannot grow the series without bound. Zero means
	// 1000.
	MaxRules int
}

// Metrics holds a gateway's collectors. Observe and Middleware record
// requests; the Add methods register engines whose Stats are read at
// scrape time. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	maxRules int

	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bytesIn   *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	rules     sync.Map // rule name -> *ruleSeries
	ruleCount int      // guarded by ruleMu
	ruleMu    sync.Mutex

	mu    sync.Mutex          // guards names
	names map[string]struct{} // "kind/name" of every Add, to refuse duplicates
}

// New returns a Metrics registering its request collectors in
// cfg.Registry. It returns an error for unsorted or non-positive buckets
// or a negative MaxRules.
func New(cfg Config) (*Metrics, error) {
	if cfg.MaxRules < 0 {
		return nil, errors.New("metrics: MaxRules must not be negative")
	}
	buckets := cfg.Buckets
	if buckets == nil {
		buckets = defaultBuckets
	}
	for i, b := range buckets {
		if b <= 0 || i > 0 && b <= buckets[i-1] {
			return nil, fmt.Errorf("metrics: Buckets must be positive and ascending, got %v", buckets)
		}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg:      reg,
		maxRules: cmp.Or(cfg.MaxRules, 1000),
		names:    map[string]struct{}{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekit_http_requests_total",
			Help: "Requests answered, by route rule, method and status class.",
		}, []string{"rule", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatekit_http_request_duration_seconds",
			Help:    "Time from the request's arrival to the end of its response, by route rule.",
			Buckets: buckets,
		}, []string{"rule"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekit_http_request_body_bytes_total",
			Help: "Request body bytes read, by route rule.",
		}, []string{"rule"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatekit_http_response_body_bytes_total",
			Help: "Response body bytes written, by route rule.",
		}, []string{"rule"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.bytesIn, m.bytesOut} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Registry returns the registry the collectors are registered in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the /metrics endpoint for the registry, in the
// Prometheus text or OpenMetrics format as the scraper asks. Mount it
// where only operators reach it (see package admin).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// claim records that kind/name is registered, or returns an error if it
// already is.
func (m *Metrics) claim(kind, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := kind + "/" + name
	if _, dup := m.names[k]; dup {
		return fmt.Errorf("metrics: %s %q is already registered", kind, name)
	}
	m.names[k] = struct{}{}
	return nil
}
