package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatekit/gatekit/balancer"
)

// poolCollector reports a pool's targets, labelled pool=name and
// target=host:port.
type poolCollector struct {
	pool                            *balancer.Pool
	targets, available              *prometheus.Desc
	healthy, inFlight, targetWeight *prometheus.Desc
}

// AddPool reports pool's targets, labelled pool=name: the gauges
// gatekit_upstream_targets and gatekit_upstream_targets_available, and per
// target (label target, the target's host:port) gatekit_upstream_healthy
// (1 or 0), gatekit_upstream_in_flight and gatekit_upstream_weight.
// Targets added or removed later show up at the next scrape.
func (m *Metrics) AddPool(name string, pool *balancer.Pool) error {
	if err := m.claim("pool", name); err != nil {
		return err
	}
	l := prometheus.Labels{"pool": name}
	t := []string{"target"}
	return m.reg.Register(&poolCollector{
		pool:         pool,
		targets:      prometheus.NewDesc("gatekit_upstream_targets", "Targets in the pool.", nil, l),
		available:    prometheus.NewDesc("gatekit_upstream_targets_available", "Targets that can be picked now.", nil, l),
		healthy:      prometheus.NewDesc("gatekit_upstream_healthy", "1 if the target is healthy (active checks and outlier detection agree), else 0.", t, l),
		inFlight:     prometheus.NewDesc("gatekit_upstream_in_flight", "Requests in flight to the target.", t, l),
		targetWeight: prometheus.NewDesc("gatekit_upstream_weight", "The target's weight.", t, l),
	})
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.targets, c.available, c.healthy, c.inFlight, c.targetWeight} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ts := c.pool.Targets()
	ch <- prometheus.MustNewConstMetric(c.targets, prometheus.GaugeValue, float64(len(ts)))
	ch <- prometheus.MustNewConstMetric(c.available, prometheus.GaugeValue, float64(c.pool.Available()))
	for _, t := range ts {
		host := t.URL().Host
		healthy := 0.0
		if t.Healthy() {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy, host)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(t.InFlight()), host)
		ch <- prometheus.MustNewConstMetric(c.targetWeight, prometheus.GaugeValue, float64(t.Weight()), host)
	}
}
