package admin

import (
	"net/http"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/surge"
	"github.com/gatekit/gatekit/validate"
)

// Status is the document /api/status serves and the status page shows.
type Status struct {
	// Time is when the document was made, and Uptime the time since the
	// handler was built, in seconds.
	Time   time.Time `json:"time"`
	Uptime float64   `json:"uptime_seconds"`
	// Ready is the readiness /readyz reports.
	Ready bool `json:"ready"`
	// Rules are the request counters per route rule, from Config.Metrics.
	Rules []metrics.RuleStats `json:"rules"`
	// Pools are the upstream pools, in name order.
	Pools []PoolStatus `json:"pools"`
	// Caches, Limiters, Concurrency, SharedLimiters, Validators and Routes
	// are the engines' Stats by name.
	Caches         map[string]cache.Stats                `json:"caches"`
	Limiters       map[string]ratelimit.Stats            `json:"limiters"`
	Concurrency    map[string]ratelimit.ConcurrencyStats `json:"concurrency"`
	SharedLimiters map[string]ratelimit.SharedStats      `json:"shared_limiters"`
	Validators     map[string]validate.Stats             `json:"validators"`
	Routes         map[string]route.Stats                `json:"routes"`
	// Surge are the surge detectors' state and their limiters' by name.
	Surge map[string]SurgeStatus `json:"surge"`
	// Certificates are the TLS certificates by source name.
	Certificates map[string][]CertStatus `json:"certificates"`
}

// SurgeStatus is one surge detector and its limiter.
type SurgeStatus struct {
	Detector surge.DetectorStats `json:"detector"`
	Limiter  surge.LimiterStats  `json:"limiter"`
}

// CertStatus is one TLS certificate as it is served.
type CertStatus struct {
	Source    string    `json:"source"`
	Names     []string  `json:"names"`
	Issuer    string    `json:"issuer"`
	NotAfter  time.Time `json:"not_after"`
	Default   bool      `json:"default,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// PoolStatus is one pool and its targets.
type PoolStatus struct {
	Name      string         `json:"name"`
	Available int            `json:"available"`
	InFlight  int64          `json:"in_flight"`
	Targets   []TargetStatus `json:"targets"`
}

// TargetStatus is one target of a pool: whether it can be picked now and,
// if not, why (balancer.TargetStatus), with its weight and zone.
type TargetStatus struct {
	balancer.TargetStatus
	Weight int    `json:"weight"`
	Zone   string `json:"zone,omitempty"`
}

// Status returns the current status document.
func (h *Handler) Status() Status {
	now := h.cfg.Now()
	st := Status{
		Time:           now,
		Uptime:         now.Sub(h.start).Seconds(),
		Ready:          h.cfg.Ready(),
		Rules:          []metrics.RuleStats{},
		Pools:          []PoolStatus{},
		Caches:         map[string]cache.Stats{},
		Limiters:       map[string]ratelimit.Stats{},
		Concurrency:    map[string]ratelimit.ConcurrencyStats{},
		SharedLimiters: map[string]ratelimit.SharedStats{},
		Validators:     map[string]validate.Stats{},
		Routes:         map[string]route.Stats{},
		Certificates:   map[string][]CertStatus{},
		Surge:          map[string]SurgeStatus{},
	}
	for name, d := range h.cfg.Surge {
		st.Surge[name] = SurgeStatus{Detector: d.Stats(), Limiter: d.Limiter().Stats()}
	}
	for name, state := range h.cfg.Certificates {
		certs := []CertStatus{}
		for _, c := range state() {
			cs := CertStatus{Source: c.Source, Names: c.Names, Issuer: c.Issuer, NotAfter: c.NotAfter, Default: c.Default}
			if c.LastError != nil {
				cs.LastError = c.LastError.Error()
			}
			certs = append(certs, cs)
		}
		st.Certificates[name] = certs
	}
	if h.cfg.Metrics != nil {
		st.Rules = append(st.Rules, h.cfg.Metrics.Rules()...)
	}
	for _, name := range sortedNames(h.cfg.Pools) {
		p := h.cfg.Pools[name]
		ps := PoolStatus{Name: name, Available: p.Available(), InFlight: p.InFlight(), Targets: []TargetStatus{}}
		for _, t := range p.Targets() {
			ps.Targets = append(ps.Targets, TargetStatus{TargetStatus: t.Status(), Weight: t.Weight(), Zone: t.Zone()})
		}
		st.Pools = append(st.Pools, ps)
	}
	for name, c := range h.cfg.Caches {
		st.Caches[name] = c.Stats()
	}
	for name, l := range h.cfg.Limiters {
		st.Limiters[name] = l.Stats()
	}
	for name, c := range h.cfg.Concurrency {
		st.Concurrency[name] = c.Stats()
	}
	for name, l := range h.cfg.SharedLimiters {
		st.SharedLimiters[name] = l.Stats()
	}
	for name, v := range h.cfg.Validators {
		st.Validators[name] = v.Stats()
	}
	for name, t := range h.cfg.Routes {
		st.Routes[name] = t.Stats()
	}
	return st
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.Status())
}
