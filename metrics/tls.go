package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	gatetls "github.com/gatekit/gatekit/tls"
)

// tlsCollector reports certificates from a State method of package tls.
type tlsCollector struct {
	state            func() []gatetls.CertState
	notAfter, failed *prometheus.Desc
}

// AddTLS reports the certificates state returns (the State method of a
// gatetls.Manager, ACME or Upstream), labelled source=name: per name a
// certificate serves (label name), gatekit_tls_certificate_expiry_timestamp_seconds
// (its NotAfter, for alerts such as "expires in under 14 days"), and per
// certificate gatekit_tls_certificate_last_reload_failed (1 while the last
// reload, renewal or issuance failed and the previous certificate is still
// served).
func (m *Metrics) AddTLS(name string, state func() []gatetls.CertState) error {
	if err := m.claim("tls", name); err != nil {
		return err
	}
	l := prometheus.Labels{"source": name}
	return m.reg.Register(&tlsCollector{
		state:    state,
		notAfter: prometheus.NewDesc("gatekit_tls_certificate_expiry_timestamp_seconds", "When the certificate serving the name expires, in Unix seconds.", []string{"name"}, l),
		failed:   prometheus.NewDesc("gatekit_tls_certificate_last_reload_failed", "1 while the certificate's last reload, renewal or issuance failed.", []string{"certificate"}, l),
	})
}

// Describe implements prometheus.Collector.
func (c *tlsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.failed
}

// Collect implements prometheus.Collector.
func (c *tlsCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, st := range c.state() {
		id := st.Source
		if len(st.Names) > 0 {
			id = st.Names[0]
		}
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, bit(st.LastError != nil), id)
		if st.NotAfter.IsZero() {
			continue
		}
		for _, n := range st.Names {
			if seen[n] {
				continue // a name served by two certificates: the first serves it
			}
			seen[n] = true
			ch <- prometheus.MustNewConstMetric(c.notAfter, prometheus.GaugeValue, float64(st.NotAfter.Unix()), n)
		}
	}
}
