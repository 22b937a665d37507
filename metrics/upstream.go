package metrics

import (
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
)

// AddOutlier reports o's counters, labelled pool=name:
// gatekit_upstream_ejections_total, and the gauges
// gatekit_upstream_ejected_targets and gatekit_upstream_panic (1 while too
// few targets are healthy and ejected ones are picked again).
func (m *Metrics) AddOutlier(name string, o *balancer.Outlier) error {
	return add(m, "outlier", "pool", name, o.Stats, []field[balancer.OutlierStats]{
		counter("upstream_ejections_total", "Targets ejected by outlier detection.", func(s balancer.OutlierStats) float64 { return float64(s.Ejections) }),
		gauge("upstream_ejected_targets", "Targets ejected now.", func(s balancer.OutlierStats) float64 { return float64(s.Ejected) }),
		gauge("upstream_panic", "1 while the pool is in panic mode.", func(s balancer.OutlierStats) float64 { return bit(s.Panicking) }),
	})
}

// AddBreaker reports b's counters, labelled pool=name:
// gatekit_upstream_breaker_rejected_total and the gauge
// gatekit_upstream_breaker_waiting.
func (m *Metrics) AddBreaker(name string, b *balancer.Breaker) error {
	return add(m, "breaker", "pool", name, b.Stats, []field[balancer.BreakerStats]{
		counter("upstream_breaker_rejected_total", "Picks refused because every target offered was at its in-flight limit.", func(s balancer.BreakerStats) float64 { return float64(s.Rejected) }),
		gauge("upstream_breaker_waiting", "Picks waiting for a slot now.", func(s balancer.BreakerStats) float64 { return float64(s.Waiting) }),
	})
}

// AddProxy reports p's counters, labelled proxy=name:
// gatekit_proxy_retries_total (requests sent again to another target),
// gatekit_proxy_transport_resends_total (re-sends the transport tried on
// its own after a connection failed) and gatekit_proxy_desyncs_total
// (upstream connections discarded by the response-framing guard because a
// target sent bytes past the end of a response).
func (m *Metrics) AddProxy(name string, p *proxy.Proxy) error {
	return add(m, "proxy", "proxy", name, p.Stats, []field[proxy.Stats]{
		counter("proxy_retries_total", "Requests sent again to another target.", func(s proxy.Stats) float64 { return float64(s.Retries) }),
		counter("proxy_transport_resends_total", "Re-sends the transport attempted on its own after a connection failed.", func(s proxy.Stats) float64 { return float64(s.TransportReSends) }),
		counter("proxy_desyncs_total", "Upstream connections discarded because a target sent bytes past a response's end.", func(s proxy.Stats) float64 { return float64(s.Desyncs) }),
	})
}

// AddRetryBudget reports b's counters, labelled budget=name:
// gatekit_proxy_retry_budget_denied_total, and the gauges
// gatekit_proxy_requests_in_progress and gatekit_proxy_retries_in_progress.
func (m *Metrics) AddRetryBudget(name string, b *proxy.RetryBudget) error {
	return add(m, "budget", "budget", name, b.Stats, []field[proxy.BudgetStats]{
		counter("proxy_retry_budget_denied_total", "Retries the budget refused.", func(s proxy.BudgetStats) float64 { return float64(s.Denied) }),
		gauge("proxy_requests_in_progress", "Requests in progress under the budget.", func(s proxy.BudgetStats) float64 { return float64(s.Requests) }),
		gauge("proxy_retries_in_progress", "Retries in progress under the budget.", func(s proxy.BudgetStats) float64 { return float64(s.Retries) }),
	})
}
