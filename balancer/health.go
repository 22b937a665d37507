package balancer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Active health check defaults, from reference/RELIABILITY.md §6.4.
const (
	DefaultHealthInterval = 2 * time.Second
	DefaultHealthJitter   = 0.1
	DefaultHealthTimeout  = time.Second
	DefaultHealthRise     = 2
	DefaultHealthFall     = 3
	maxHealthBody         = 64 << 10
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

// HealthConfig configures a HealthChecker. The zero value of each field
// selects the default documented on it.
type HealthConfig struct {
	// Path is the request path (and query) probed on every target, such
	// as "/healthz". Empty means "/".
	Path string
	// Host is the Host header of probes. Empty means the target's host.
	Host string
	// MinStatus and MaxStatus bound the statuses that pass. Zero means
	// 200 and 399.
	MinStatus, MaxStatus int
	// BodyContains, if not empty, must appear in the first 64 KiB of the
	// response body for a probe to pass.
	BodyContains string
	// Interval is the time between two probes of a target. Zero means
	// DefaultHealthInterval (2s).
	Interval time.Duration
	// Jitter spreads each wait uniformly by ±Jitter×Interval, so that
	// gateways do not probe in step. Zero means DefaultHealthJitter (0.1);
	// negative means none.
	Jitter float64
	// Timeout bounds one probe; a probe that takes longer fails. Zero
	// means DefaultHealthTimeout (1s).
	Timeout time.Duration
	// Rise is the number of consecutive passing probes that bring a down
	// target up; Fall the number of consecutive failing probes that take
	// an up target down. Zero means DefaultHealthRise (2) and
	// DefaultHealthFall (3).
	Rise, Fall int
	// Initial is the state of targets not probed yet: StateUp (the zero
	// value) keeps them in rotation until they fail Fall probes;
	// StateDown keeps them out until they pass Rise probes.
	Initial HealthState
	// Transport sends the probes. Nil means a transport of its own, from
	// NewTransport with the default settings, closed by Close.
	Transport http.RoundTripper
	// Outlier, if set, receives the verdicts and combines them with
	// passive outlier detection (a target is available only if both
	// agree); otherwise verdicts go straight to Pool.SetHealthy.
	Outlier *Outlier
	// OnChange, if set, is called after a target changes state, from the
	// checker's goroutine (or the caller of ReportAt).
	OnChange func(t *Target, s HealthState)
	// Logger receives state changes (Info). Nil means silent.
	Logger *slog.Logger
}

// TargetHealth is a target's active health check status.
type TargetHealth struct {
	// Target is the target's ID (its canonical URL).
	Target string `json:"target"`
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

// HealthChecker probes every target of a pool over HTTP and takes targets
// out of rotation, and back in, on consecutive results. Start runs the
// probes on a goroutine owned by the checker until Close; ReportAt and
// CheckAt drive it directly with explicit times. It is safe for
// concurrent use.
type HealthChecker struct {
	pool      *Pool
	cfg       HealthConfig
	transport http.RoundTripper
	ownTr     bool

	// mu guards states.
	mu     sync.Mutex
	states map[*Target]*TargetHealth

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// NewHealthChecker returns a checker for pool; call Start to begin
// probing. It returns an error for a nil pool or invalid settings.
func NewHealthChecker(pool *Pool, cfg HealthConfig) (*HealthChecker, error) {
	if pool == nil {
		return nil, errors.New("balancer: health checks need a pool")
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 || cfg.Rise < 0 || cfg.Fall < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("balancer: invalid HealthConfig (interval %v, timeout %v, rise %d, fall %d, jitter %v)",
			cfg.Interval, cfg.Timeout, cfg.Rise, cfg.Fall, cfg.Jitter)
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("balancer: health check path %q must start with /", cfg.Path)
	}
	if cfg.MinStatus == 0 {
		cfg.MinStatus = 200
	}
	if cfg.MaxStatus == 0 {
		cfg.MaxStatus = 399
	}
	if cfg.MinStatus < 100 || cfg.MaxStatus > 599 || cfg.MinStatus > cfg.MaxStatus {
		return nil, fmt.Errorf("balancer: invalid health status range %d-%d", cfg.MinStatus, cfg.MaxStatus)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultHealthInterval
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultHealthJitter
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultHealthTimeout
	}
	if cfg.Rise == 0 {
		cfg.Rise = DefaultHealthRise
	}
	if cfg.Fall == 0 {
		cfg.Fall = DefaultHealthFall
	}
	hc := &HealthChecker{pool: pool, cfg: cfg, transport: cfg.Transport, states: map[*Target]*TargetHealth{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if hc.transport == nil {
		// Probes need no more: Timeout bounds each one, and one idle
		// connection per target is kept between them.
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: cfg.Timeout,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   true,
		}
		hc.transport, hc.ownTr = tr, true
	}
	return hc, nil
}

// Start puts the pool's targets in the initial state (see Init) and
// begins probing every target each Interval (with jitter) on a goroutine
// that runs until Close. Calls after the first do nothing.
func (hc *HealthChecker) Start() {
	hc.startOnce.Do(func() {
		hc.Init()
		go hc.loop()
	})
}

// Close stops probing, waits for running probes to end and closes the
// checker's own transport. It is safe to call more than once, and before
// or without Start.
func (hc *HealthChecker) Close() error {
	hc.closeOnce.Do(func() {
		close(hc.stop)
		started := true
		hc.startOnce.Do(func() { started = false })
		if started {
			<-hc.done
		}
		if hc.cfg.Initial == StateDown {
			hc.pool.newDown.Store(false)
			if hc.cfg.Outlier != nil {
				hc.cfg.Outlier.newDown.Store(false)
			}
		}
		if c, ok := hc.transport.(interface{ CloseIdleConnections() }); ok && hc.ownTr {
			c.CloseIdleConnections()
		}
	})
	return nil
}

func (hc *HealthChecker) loop() {
	defer close(hc.done)
	for {
		hc.checkAll()
		t := time.NewTimer(hc.wait())
		select {
		case <-hc.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// wait returns Interval spread by the jitter.
func (hc *HealthChecker) wait() time.Duration {
	d := hc.cfg.Interval
	if j := hc.cfg.Jitter; j > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * j * float64(d))
	}
	return d
}

// checkAll probes every target of the pool at once and waits for the
// probes; Close cancels them.
func (hc *HealthChecker) checkAll() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-hc.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for _, t := range hc.pool.Targets() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc.CheckAt(ctx, t, time.Now())
		}()
	}
	wg.Wait()
	hc.prune()
}

// CheckAt probes t once, starting at now, and reports the result with
// ReportAt (at the probe's end). It returns the probe's error, or nil if it
// passed. A probe cancelled through ctx is not reported.
func (hc *HealthChecker) CheckAt(ctx context.Context, t *Target, now time.Time) error {
	start := time.Now()
	err := hc.probe(ctx, t)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	hc.ReportAt(t, err, now.Add(time.Since(start)))
	return err
}

func (hc *HealthChecker) probe(ctx context.Context, t *Target) error {
	ctx, cancel := context.WithTimeout(ctx, hc.cfg.Timeout)
	defer cancel()
	u := *t.URL()
	u.Path = strings.TrimSuffix(u.Path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+hc.cfg.Path, nil)
	if err != nil {
		return err
	}
	if hc.cfg.Host != "" {
		req.Host = hc.cfg.Host
	}
	req.Header.Set("User-Agent", "gatekit-health-check")
	resp, err := hc.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < hc.cfg.MinStatus || resp.StatusCode > hc.cfg.MaxStatus {
		io.CopyN(io.Discard, resp.Body, maxHealthBody)
		return fmt.Errorf("status %d outside %d-%d", resp.StatusCode, hc.cfg.MinStatus, hc.cfg.MaxStatus)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return err
	}
	if hc.cfg.BodyContains != "" && !bytes.Contains(body, []byte(hc.cfg.BodyContains)) {
		return fmt.Errorf("body lacks %q", hc.cfg.BodyContains)
	}
	return nil
}

// ReportAt records a probe of t that ended at now with err (nil: passed)
// and changes t's state after Rise passes or Fall failures in a row.
func (hc *HealthChecker) ReportAt(t *Target, err error, now time.Time) {
	hc.mu.Lock()
	st := hc.stateLocked(t)
	st.LastCheck = now
	changed := false
	if err == nil {
		st.LastError = ""
		st.Failures = 0
		st.Successes++
		if st.State == StateDown && st.Successes >= hc.cfg.Rise {
			st.State, changed = StateUp, true
		}
	} else {
		st.LastError = err.Error()
		st.Successes = 0
		st.Failures++
		if st.State == StateUp && st.Failures >= hc.cfg.Fall {
			st.State, changed = StateDown, true
		}
	}
	st.Healthy = st.State == StateUp
	state := st.State
	hc.mu.Unlock()
	if changed {
		hc.publish(t, state)
	}
}

// stateLocked returns t's status, creating it in the initial state (and
// publishing a StateDown initial state) on first sight.
func (hc *HealthChecker) stateLocked(t *Target) *TargetHealth {
	st := hc.states[t]
	if st == nil {
		st = &TargetHealth{Target: t.url.Redacted(), State: hc.cfg.Initial, Healthy: hc.cfg.Initial == StateUp}
		hc.states[t] = st
		if hc.cfg.Initial == StateDown {
			hc.setHealthy(t, false)
		}
	}
	return st
}

func (hc *HealthChecker) setHealthy(t *Target, up bool) {
	if hc.cfg.Outlier != nil {
		hc.cfg.Outlier.setChecked(t, up)
	} else {
		hc.pool.SetHealthy(t, up)
	}
}

func (hc *HealthChecker) publish(t *Target, s HealthState) {
	hc.setHealthy(t, s == StateUp)
	if hc.cfg.Logger != nil {
		hc.cfg.Logger.Info("balancer: health check state change", slog.String("target", t.url.Redacted()),
			slog.String("state", s.String()))
	}
	if hc.cfg.OnChange != nil {
		hc.cfg.OnChange(t, s)
	}
}

// Init puts every target of the pool in the initial state now, so that
// with Initial StateDown no target is picked before it passed Rise probes.
//
// With StateDown, targets added to the pool later start down as well
// (until Close), so that none is picked between Add and its first probes.
func (hc *HealthChecker) Init() {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.cfg.Initial == StateDown {
		hc.pool.newDown.Store(true)
		if hc.cfg.Outlier != nil {
			hc.cfg.Outlier.newDown.Store(true)
		}
	}
	for _, t := range hc.pool.Targets() {
		hc.stateLocked(t)
	}
}

// prune forgets targets no longer in the pool.
func (hc *HealthChecker) prune() {
	live := map[*Target]bool{}
	for _, t := range hc.pool.Targets() {
		live[t] = true
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for t := range hc.states {
		if !live[t] {
			delete(hc.states, t)
		}
	}
}

// Status returns t's status; ok is false if t was never seen.
func (hc *HealthChecker) Status(t *Target) (TargetHealth, bool) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	st, ok := hc.states[t]
	if !ok {
		return TargetHealth{}, false
	}
	return *st, true
}

// Statuses returns the status of every target in the pool, in pool order;
// targets not probed yet are in the initial state.
func (hc *HealthChecker) Statuses() []TargetHealth {
	ts := hc.pool.Targets()
	out := make([]TargetHealth, 0, len(ts))
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, t := range ts {
		if st, ok := hc.states[t]; ok {
			out = append(out, *st)
		} else {
			out = append(out, TargetHealth{Target: t.url.Redacted(), State: hc.cfg.Initial, Healthy: hc.cfg.Initial == StateUp})
		}
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
