package balancer

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Active health check defaults, stated on the HealthConfig fields.
const (
	defaultHealthInterval = 2 * time.Second
	defaultHealthJitter   = 0.1
	defaultHealthTimeout  = time.Second
	defaultHealthRise     = 2
	defaultHealthFall     = 3
	maxHealthBody         = 64 << 10
)

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
	// Interval is the time between two probes of a target. Zero means 2s.
	Interval time.Duration
	// Jitter spreads each wait uniformly by ±Jitter×Interval, so that
	// gateways do not probe in step. Zero means 0.1; negative means none.
	Jitter float64
	// Timeout bounds one probe; a probe that takes longer fails. Zero
	// means 1s.
	Timeout time.Duration
	// Rise is the number of consecutive passing probes that bring a down
	// target up; Fall the number of consecutive failing probes that take
	// an up target down. Zero means 2 and 3.
	Rise, Fall int
	// Initial is the state of targets not probed yet: StateUp (the zero
	// value) keeps them in rotation until they fail Fall probes;
	// StateDown keeps them out until they pass Rise probes.
	Initial HealthState
	// GRPC makes every probe a gRPC health check instead of a GET of
	// Path: a call of grpc.health.v1.Health/Check for GRPCService, which
	// passes only when it answers SERVING with grpc-status 0. Path,
	// status range and BodyContains are not used then.
	GRPC bool
	// GRPCService is the service name asked for in gRPC health checks
	// (such as "helloworld.Greeter"). Empty asks for the health of the
	// server as a whole. Pools of different services get a checker
	// each.
	GRPCService string
	// Transport sends the probes. Nil means a transport of its own (one
	// idle connection per address, dial and TLS handshake bounded by
	// Timeout), closed by Close. Probes of h2c targets (balancer.SchemeH2C)
	// always go over a plaintext HTTP/2 transport of the checker's own.
	Transport http.RoundTripper
	// OnChange, if set, is called after an address changes state, once
	// for each pool target at that address, from the checker's goroutine
	// (or the caller of Report).
	OnChange func(t *Target, s HealthState)
	// Logger receives state changes (Info), one line per pool holding the
	// address, with attributes pool, target and state. Nil means silent.
	Logger *slog.Logger
}

// HealthChecker probes the targets of one or more named pools over HTTP
// (or with the gRPC health protocol, HealthConfig.GRPC) and holds those
// that fail out of rotation until they pass again. An
// address in several pools (the same backend behind three routes) is
// probed once per Interval, and its verdict applies to its target in
// every pool. The checker is the only writer of those targets' health
// check verdicts: outlier detection, Pool.SetHealthy and Pool.SetDraining
// keep verdicts of their own (Target.Status), and a target is picked only
// when none holds it down; Outliers on a pool count the verdicts towards
// their panic threshold.
//
// Start runs the probes on a goroutine owned by the checker until Close;
// Check and Report (and their …At twins, with explicit times) drive it
// directly. It is safe for concurrent use.
type HealthChecker struct {
	pools     []namedPool // in name order
	cfg       HealthConfig
	transport http.RoundTripper
	ownTr     bool
	h2c       *http.Transport // probes to h2c targets

	// mu guards states.
	mu     sync.Mutex
	states map[string]*TargetHealth // by target ID

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

type namedPool struct {
	name string
	pool *Pool
}

// NewHealthChecker returns a checker for pools, by name (the name is in
// every log line and status); call Start to begin probing. It returns an
// error for no pools, a nil pool, a pool given twice or invalid settings.
func NewHealthChecker(pools map[string]*Pool, cfg HealthConfig) (*HealthChecker, error) {
	if len(pools) == 0 {
		return nil, errors.New("balancer: health checks need a pool")
	}
	var named []namedPool
	seen := map[*Pool]string{}
	for name, p := range pools {
		if p == nil {
			return nil, fmt.Errorf("balancer: health checks of pool %q: nil pool", name)
		}
		if other, dup := seen[p]; dup {
			return nil, fmt.Errorf("balancer: health checks: one pool named %q and %q", min(name, other), max(name, other))
		}
		seen[p] = name
		named = append(named, namedPool{name, p})
	}
	slices.SortFunc(named, func(a, b namedPool) int { return strings.Compare(a.name, b.name) })
	if cfg.Interval < 0 || cfg.Timeout < 0 || cfg.Rise < 0 || cfg.Fall < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("balancer: invalid HealthConfig (interval %v, timeout %v, rise %d, fall %d, jitter %v)",
			cfg.Interval, cfg.Timeout, cfg.Rise, cfg.Fall, cfg.Jitter)
	}
	cfg.Path = cmp.Or(cfg.Path, "/")
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("balancer: health check path %q must start with /", cfg.Path)
	}
	cfg.MinStatus = cmp.Or(cfg.MinStatus, 200)
	cfg.MaxStatus = cmp.Or(cfg.MaxStatus, 399)
	if cfg.MinStatus < 100 || cfg.MaxStatus > 599 || cfg.MinStatus > cfg.MaxStatus {
		return nil, fmt.Errorf("balancer: invalid health status range %d-%d", cfg.MinStatus, cfg.MaxStatus)
	}
	cfg.Interval = cmp.Or(cfg.Interval, defaultHealthInterval)
	cfg.Jitter = cmp.Or(cfg.Jitter, defaultHealthJitter)
	cfg.Timeout = cmp.Or(cfg.Timeout, defaultHealthTimeout)
	cfg.Rise = cmp.Or(cfg.Rise, defaultHealthRise)
	cfg.Fall = cmp.Or(cfg.Fall, defaultHealthFall)
	hc := &HealthChecker{pools: named, cfg: cfg, transport: cfg.Transport, states: map[string]*TargetHealth{},
		stop: make(chan struct{}), done: make(chan struct{})}
	hc.h2c = newH2CProbeTransport(cfg.Timeout)
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

// Start puts the pools' targets in the initial state (see Init) and
// begins probing every address each Interval (with jitter) on a goroutine
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
			for _, np := range hc.pools {
				np.pool.newDown.Store(false)
			}
		}
		if c, ok := hc.transport.(interface{ CloseIdleConnections() }); ok && hc.ownTr {
			c.CloseIdleConnections()
		}
		hc.h2c.CloseIdleConnections()
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

// poolTarget is a target with the name of its pool.
type poolTarget struct {
	pool string
	t    *Target
}

// targets returns every target of the pools by ID, and the IDs in the
// order first seen.
func (hc *HealthChecker) targets() (map[string][]poolTarget, []string) {
	byID := map[string][]poolTarget{}
	var ids []string
	for _, np := range hc.pools {
		for _, t := range np.pool.load().all {
			if byID[t.id] == nil {
				ids = append(ids, t.id)
			}
			byID[t.id] = append(byID[t.id], poolTarget{np.name, t})
		}
	}
	return byID, ids
}

// checkAll probes every address of the pools once, all at once, and waits
// for the probes; Close cancels them.
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
	byID, ids := hc.targets()
	var wg sync.WaitGroup
	for _, id := range ids {
		t := byID[id][0].t
		wg.Go(func() { hc.Check(ctx, t) })
	}
	wg.Wait()
	hc.prune(byID)
}

// Check probes t's address once, now; see CheckAt.
func (hc *HealthChecker) Check(ctx context.Context, t *Target) error {
	return hc.CheckAt(ctx, t, time.Now())
}

// CheckAt probes t's address once, starting at now, and reports the result
// with ReportAt (at the probe's end). It returns the probe's error, or nil
// if it passed. A probe cancelled through ctx is not reported.
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
	if hc.cfg.GRPC {
		return hc.probeGRPC(ctx, t)
	}
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
	resp, err := hc.roundTrip(req)
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

// Report records a probe of t's address that ended now; see ReportAt.
func (hc *HealthChecker) Report(t *Target, err error) { hc.ReportAt(t, err, time.Now()) }

// ReportAt records a probe of t's address that ended at now with err (nil:
// passed) and changes the address's state after Rise passes or Fall
// failures in a row, for its target in every pool.
func (hc *HealthChecker) ReportAt(t *Target, err error, now time.Time) {
	byID, _ := hc.targets()
	pts := byID[t.id]
	if len(pts) == 0 {
		return // in none of the checker's pools
	}
	hc.mu.Lock()
	st := hc.stateLocked(t.id, pts)
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
		hc.publish(pts, state)
	}
}

// stateLocked returns the status of the address id, creating it in the
// initial state (and publishing a StateDown initial state) on first sight.
func (hc *HealthChecker) stateLocked(id string, pts []poolTarget) *TargetHealth {
	st := hc.states[id]
	if st == nil {
		st = &TargetHealth{Target: pts[0].t.url.Redacted(), State: hc.cfg.Initial, Healthy: hc.cfg.Initial == StateUp}
		hc.states[id] = st
		if hc.cfg.Initial == StateDown {
			for _, pt := range pts {
				setChecked(pt.t, false)
			}
		}
	}
	st.Pools = st.Pools[:0]
	for _, pt := range pts {
		st.Pools = append(st.Pools, pt.pool)
	}
	return st
}

// setChecked records a health check verdict on t. Outliers on its pool
// notice the change on their next pick and move their panic threshold.
func setChecked(t *Target, up bool) { t.pool.setDown(t, downChecked, !up) }

// publish applies state s to the targets pts, logs it once per pool and
// calls OnChange for each.
func (hc *HealthChecker) publish(pts []poolTarget, s HealthState) {
	for _, pt := range pts {
		setChecked(pt.t, s == StateUp)
		if hc.cfg.Logger != nil {
			hc.cfg.Logger.Info("balancer: health check state change", slog.String("pool", pt.pool),
				slog.String("target", pt.t.url.Redacted()), slog.String("state", s.String()))
		}
		if hc.cfg.OnChange != nil {
			hc.cfg.OnChange(pt.t, s)
		}
	}
}

// Init puts every target of the pools in the initial state now, so that
// with Initial StateDown no target is picked before it passed Rise probes.
//
// With StateDown, targets added to the pools later start down as well
// (until Close), so that none is picked between Add and its first probes.
func (hc *HealthChecker) Init() {
	byID, ids := hc.targets()
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.cfg.Initial == StateDown {
		for _, np := range hc.pools {
			np.pool.newDown.Store(true)
		}
	}
	for _, id := range ids {
		hc.stateLocked(id, byID[id])
	}
}

// prune forgets addresses in none of the pools.
func (hc *HealthChecker) prune(byID map[string][]poolTarget) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for id := range hc.states {
		if byID[id] == nil {
			delete(hc.states, id)
		}
	}
}
