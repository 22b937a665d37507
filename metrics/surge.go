package metrics

import (
	"github.com/gatekit/gatekit/surge"
)

// AddSurge reports a surge limiter and, if d is not nil, its detector,
// labelled pool=name: the gauges gatekit_surge_limit,
// gatekit_surge_in_flight and gatekit_surge_queued, the counters
// gatekit_surge_arrivals_total, gatekit_surge_shed_total,
// gatekit_surge_queue_timeouts_total and gatekit_surge_dropped_total, and
// from the detector gatekit_surge_state (0 calm, 1 surging),
// gatekit_surge_pressure (offered over admitted load: the metric to scale
// on), gatekit_surge_rate_ratio and gatekit_surge_events_total by kind.
func (m *Metrics) AddSurge(name string, l *surge.Limiter, d *surge.Detector) error {
	if err := add(m, "surge", "pool", name, l.Stats, []field[surge.LimiterStats]{
		gauge("surge_limit", "The adaptive concurrency limit.", func(s surge.LimiterStats) float64 { return float64(s.Limit) }),
		gauge("surge_in_flight", "Requests admitted and not yet finished.", func(s surge.LimiterStats) float64 { return float64(s.InFlight) }),
		gauge("surge_queued", "Requests waiting for a slot.", func(s surge.LimiterStats) float64 { return float64(s.Queued) }),
		counter("surge_arrivals_total", "Requests that asked for a slot.", func(s surge.LimiterStats) float64 { return float64(s.Arrivals) }),
		counter("surge_shed_total", "Requests shed (503) for want of a slot.", func(s surge.LimiterStats) float64 { return float64(s.Shed) }),
		counter("surge_queue_timeouts_total", "Requests shed after waiting the longest allowed.", func(s surge.LimiterStats) float64 { return float64(s.QueueTimeouts) }),
		counter("surge_dropped_total", "Requests that ended in a timeout, a 5xx or a dropped connection.", func(s surge.LimiterStats) float64 { return float64(s.Dropped) }),
	}); err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	event := func(kind string, get func(surge.DetectorStats) uint64) field[surge.DetectorStats] {
		f := counter("surge_events_total", "Surge events emitted, by kind.", func(s surge.DetectorStats) float64 { return float64(get(s)) })
		f.labels = map[string]string{"kind": kind}
		return f
	}
	return add(m, "detector", "pool", name, d.Stats, []field[surge.DetectorStats]{
		gauge("surge_state", "1 while a surge is detected, else 0.", func(s surge.DetectorStats) float64 { return bit(s.State != surge.Calm) }),
		gauge("surge_pressure", "Offered over admitted load (1 when nothing is shed).", func(s surge.DetectorStats) float64 { return s.Signals.Pressure }),
		gauge("surge_rate_ratio", "Short-window over long-window arrival rate.", func(s surge.DetectorStats) float64 { return s.Signals.RateRatio }),
		event("started", func(s surge.DetectorStats) uint64 { return s.Started }),
		event("sustained", func(s surge.DetectorStats) uint64 { return s.Sustained }),
		event("ended", func(s surge.DetectorStats) uint64 { return s.Ended }),
	})
}
