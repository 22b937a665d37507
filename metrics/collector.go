package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// field is one metric of an engine's Stats: its name (after "gatekit_"),
// help, type and how to read it.
type field[S any] struct {
	name, help string
	kind       prometheus.ValueType
	get        func(S) float64
	labels     prometheus.Labels // more constant labels, such as a reason
}

func counter[S any](name, help string, get func(S) float64) field[S] {
	return field[S]{name: name, help: help, kind: prometheus.CounterValue, get: get}
}

func gauge[S any](name, help string, get func(S) float64) field[S] {
	return field[S]{name: name, help: help, kind: prometheus.GaugeValue, get: get}
}

// statsCollector reads one engine's Stats at scrape time and reports each
// field as a constant metric labelled with the engine's name.
type statsCollector[S any] struct {
	stats  func() S
	fields []field[S]
	descs  []*prometheus.Desc
}

func newStatsCollector[S any](label, name string, stats func() S, fields []field[S]) *statsCollector[S] {
	c := &statsCollector[S]{stats: stats, fields: fields}
	for _, f := range fields {
		labels := prometheus.Labels{label: name}
		for k, v := range f.labels {
			labels[k] = v
		}
		c.descs = append(c.descs, prometheus.NewDesc("gatekit_"+f.name, f.help, nil, labels))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector[S]) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for i, f := range c.fields {
		ch <- prometheus.MustNewConstMetric(c.descs[i], f.kind, f.get(s))
	}
}

// add registers a collector of stats under label=name, once per kind and
// name.
func add[S any](m *Metrics, kind, label, name string, stats func() S, fields []field[S]) error {
	if err := m.claim(kind, name); err != nil {
		return err
	}
	return m.reg.Register(newStatsCollector(label, name, stats, fields))
}

func u64(v uint64) float64 { return float64(v) }
