package balancer

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// HealthState is a target's state as seen by active health checks.
type HealthState int

const (
	// StateUp means the target passes its checks (or is presumed to).
	StateUp HealthState = iota
	// StateDown means the target failed Fall checks in a row (or starts
	// down and has not passed Rise checks yet).
	StateDown
)

// String returns "up" or "down".
func (s HealthState) String() string {
	if s == StateDown {
		return "down"
	}
	return "up"
}

// TargetHealth is the active health check status of one address.
type TargetHealth struct {
	// Target is the target's ID (its canonical URL, password redacted).
	Target string `json:"target"`
	// Pools names the pools that hold a target at this address, in
	// name order.
	Pools []string `json:"pools"`
	// State is the current state.
	State HealthState `json:"-"`
	// Healthy is State == StateUp, for JSON.
	Healthy bool `json:"healthy"`
	// Successes and Failures count the consecutive probes that passed or
	// failed (one of them is zero).
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// LastCheck is when the last probe ended; zero if never probed.
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastError describes why the last probe failed, or "".
	LastError string `json:"last_error,omitempty"`
}

// Status returns the status of t's address; ok is false if it was never
// seen.
func (hc *HealthChecker) Status(t *Target) (TargetHealth, bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	st, ok := hc.states[t.id]
	if !ok {
		return TargetHealth{}, false
	}
	return st.clone(), true
}

func (st *TargetHealth) clone() TargetHealth {
	c := *st
	c.Pools = slices.Clone(st.Pools)
	return c
}

// Statuses returns the status of every address in the pools, in pool name
// and then insertion order; addresses not probed yet are in the initial
// state.
func (hc *HealthChecker) Statuses() []TargetHealth {
	byID, ids := hc.targets()
	out := make([]TargetHealth, 0, len(ids))
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, id := range ids {
		if st, ok := hc.states[id]; ok {
			out = append(out, st.clone())
			continue
		}
		pts := byID[id]
		st := TargetHealth{Target: pts[0].t.url.Redacted(), State: hc.cfg.Initial, Healthy: hc.cfg.Initial == StateUp}
		for _, pt := range pts {
			st.Pools = append(st.Pools, pt.pool)
		}
		out = append(out, st)
	}
	return out
}

// ServeHTTP writes Statuses as a JSON array: an admin endpoint. Mount it
// only where operators can reach it; it names the upstream URLs.
func (hc *HealthChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(hc.Statuses())
}
