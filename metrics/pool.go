package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatekit/gatekit/balancer"
)

// poolCollector reports a pool's targets, labelled pool=name and
// target=the target's ID (its URL, password redacted).
type poolCollector struct {
	pool                                  *balancer.Pool
	targets, available                    *prometheus.Desc
	pickable, checkedDown, ejected, drain *prometheus.Desc
	inFlight, targetWeight                *prometheus.Desc
}

// AddPool reports pool's targets, labelled pool=name: the gauges
// gatekit_upstream_targets and gatekit_upstream_targets_available, and per
// target (label target) gatekit_upstream_pickable (1 when a policy may
// pick it now), gatekit_upstream_checked_down (held down by active health
// checks), gatekit_upstream_ejected (by outlier detection),
// gatekit_upstream_draining, gatekit_upstream_in_flight and
// gatekit_upstream_weight. Targets added or removed later show up at the
// next scrape.
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
		pickable:     prometheus.NewDesc("gatekit_upstream_pickable", "1 if a policy may pick the target now, else 0.", t, l),
		checkedDown:  prometheus.NewDesc("gatekit_upstream_checked_down", "1 if active health checks hold the target down.", t, l),
		ejected:      prometheus.NewDesc("gatekit_upstream_ejected", "1 if outlier detection ejected the target.", t, l),
		drain:        prometheus.NewDesc("gatekit_upstream_draining", "1 if the target is draining.", t, l),
		inFlight:     prometheus.NewDesc("gatekit_upstream_in_flight", "Requests in flight to the target.", t, l),
		targetWeight: prometheus.NewDesc("gatekit_upstream_weight", "The target's weight.", t, l),
	})
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.targets, c.available, c.pickable, c.checkedDown, c.ejected, c.drain, c.inFlight, c.targetWeight} {
		ch <- d
	}
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ts := c.pool.Targets()
	ch <- prometheus.MustNewConstMetric(c.targets, prometheus.GaugeValue, float64(len(ts)))
	ch <- prometheus.MustNewConstMetric(c.available, prometheus.GaugeValue, float64(c.pool.Available()))
	for _, t := range ts {
		st := t.Status()
		id := st.Target
		ch <- prometheus.MustNewConstMetric(c.pickable, prometheus.GaugeValue, bit(st.Pickable), id)
		ch <- prometheus.MustNewConstMetric(c.checkedDown, prometheus.GaugeValue, bit(st.CheckedDown), id)
		ch <- prometheus.MustNewConstMetric(c.ejected, prometheus.GaugeValue, bit(st.Ejected), id)
		ch <- prometheus.MustNewConstMetric(c.drain, prometheus.GaugeValue, bit(st.Draining), id)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight), id)
		ch <- prometheus.MustNewConstMetric(c.targetWeight, prometheus.GaugeValue, float64(t.Weight()), id)
	}
}
