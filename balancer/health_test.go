package balancer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newChecker(t testing.TB, p *Pool, cfg HealthConfig) *HealthChecker {
	t.Helper()
	hc, err := NewHealthChecker(map[string]*Pool{"test": p}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hc.Close() })
	return hc
}

func TestHealthStateFlipsAfterRiseOrFallInARow(t *testing.T) {
	errProbe := errors.New("probe failed")
	cases := []struct {
		name    string
		initial HealthState
		seq     string // p = pass, f = fail
		want    HealthState
	}{
		{"up stays up on two failures", StateUp, "ff", StateUp},
		{"up goes down on three failures", StateUp, "fff", StateDown},
		{"a pass resets the failures", StateUp, "ffpff", StateUp},
		{"down needs two passes", StateDown, "p", StateDown},
		{"down comes up on two passes", StateDown, "pp", StateUp},
		{"flapping never brings a down target up", StateDown, "pfpfpfpfpfpfpfpfpfpf", StateDown},
		{"flapping never takes an up target down", StateUp, "fpfpfpfpfpfpfpfpfpfp", StateUp},
		{"flapping with pairs of failures stays up", StateUp, "ffpffpffpffpffp", StateUp},
		{"down, up, down", StateDown, "ppfff", StateDown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, ts := fakePool(t, 2)
			var changes atomic.Int64
			hc := newChecker(t, p, HealthConfig{Initial: tc.initial, OnChange: func(*Target, HealthState) { changes.Add(1) }})
			flips := 0
			prev := tc.initial
			for i, c := range tc.seq {
				var err error
				if c == 'f' {
					err = errProbe
				}
				hc.ReportAt(ts[0], err, t0.Add(time.Duration(i)*time.Second))
				st, _ := hc.Status(ts[0])
				if st.State != prev {
					flips++
					prev = st.State
				}
			}
			st, ok := hc.Status(ts[0])
			if !ok || st.State != tc.want {
				t.Fatalf("after %q: state %v, want %v", tc.seq, st.State, tc.want)
			}
			if ts[0].Healthy() != (tc.want == StateUp) {
				t.Fatalf("pool health %v, want %v", ts[0].Healthy(), tc.want == StateUp)
			}
			if int(changes.Load()) != flips {
				t.Fatalf("OnChange called %d times for %d state changes", changes.Load(), flips)
			}
			if want := t0.Add(time.Duration(len(tc.seq)-1) * time.Second); !st.LastCheck.Equal(want) {
				t.Fatalf("LastCheck = %v, want %v", st.LastCheck, want)
			}
		})
	}
}

func TestHealthInitialDownKeepsTargetsOut(t *testing.T) {
	p, ts := fakePool(t, 2)
	hc := newChecker(t, p, HealthConfig{Initial: StateDown})
	hc.Init()
	if p.Available() != 0 {
		t.Fatalf("Available() = %d before any probe with Initial StateDown", p.Available())
	}
	hc.ReportAt(ts[1], nil, t0)
	hc.ReportAt(ts[1], nil, t0.Add(time.Second))
	if p.Available() != 1 || !ts[1].Healthy() {
		t.Fatal("two passing probes did not bring the target in")
	}
}

func TestHealthProbeChecksStatusBodyHostAndTimeout(t *testing.T) {
	var mu sync.Mutex
	var gotHost, gotPath string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("status: ready"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer be.Close()
	cases := []struct {
		name string
		cfg  HealthConfig
		ok   bool
	}{
		{"2xx passes", HealthConfig{Path: "/ok"}, true},
		{"body match passes", HealthConfig{Path: "/ok?deep=1", BodyContains: "ready"}, true},
		{"body mismatch fails", HealthConfig{Path: "/ok", BodyContains: "healthy"}, false},
		{"500 fails", HealthConfig{Path: "/fail"}, false},
		{"404 fails", HealthConfig{Path: "/missing"}, false},
		{"404 passes when in range", HealthConfig{Path: "/missing", MinStatus: 200, MaxStatus: 499}, true},
		{"204 outside 200-200 fails", HealthConfig{Path: "/empty", MaxStatus: 200}, false},
		{"timeout fails", HealthConfig{Path: "/slow", Timeout: 50 * time.Millisecond}, false},
		{"host header", HealthConfig{Path: "/ok", Host: "health.internal"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := poolOf(t, be.URL)
			hc := newChecker(t, p, tc.cfg)
			err := hc.CheckAt(context.Background(), p.Targets()[0], t0)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckAt = %v, want ok=%v", err, tc.ok)
			}
			st, _ := hc.Status(p.Targets()[0])
			if (st.LastError == "") != tc.ok || !st.LastCheck.After(t0.Add(-time.Nanosecond)) {
				t.Fatalf("status %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.cfg.Host != "" && gotHost != tc.cfg.Host {
				t.Fatalf("probe Host = %q, want %q", gotHost, tc.cfg.Host)
			}
			if gotPath != tc.cfg.Path {
				t.Fatalf("probe path = %q, want %q", gotPath, tc.cfg.Path)
			}
		})
	}
}

func TestHealthStartTakesTargetOutAndBack(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer be.Close()
	p := poolOf(t, be.URL)
	changes := make(chan HealthState, 4)
	hc := newChecker(t, p, HealthConfig{Interval: 5 * time.Millisecond, Timeout: time.Second,
		OnChange: func(_ *Target, s HealthState) { changes <- s }})
	hc.Start()
	hc.Start() // idempotent
	healthy.Store(false)
	for _, want := range []HealthState{StateDown, StateUp} {
		select {
		case s := <-changes:
			if s != want {
				t.Fatalf("state change to %v, want %v", s, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change to %v", want)
		}
		if p.Available() != map[HealthState]int{StateDown: 0, StateUp: 1}[want] {
			t.Fatalf("Available() = %d in state %v", p.Available(), want)
		}
		healthy.Store(true)
	}
	hc.Close()
	hc.Close()
}

func TestHealthCloseWithoutStart(t *testing.T) {
	p, _ := fakePool(t, 1)
	hc, err := NewHealthChecker(map[string]*Pool{"test": p}, HealthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hc.Close()
	hc.Start() // after Close: must not start a goroutine (goleak checks)
	hc.Close()
}

func TestNewHealthCheckerErrors(t *testing.T) {
	p, _ := fakePool(t, 1)
	for _, cfg := range []HealthConfig{{Interval: -1}, {Rise: -1}, {Path: "health"}, {MinStatus: 500, MaxStatus: 200}, {Jitter: 1}, {MaxStatus: 700}} {
		if _, err := NewHealthChecker(map[string]*Pool{"test": p}, cfg); err == nil {
			t.Errorf("NewHealthChecker(%+v) accepted", cfg)
		}
	}
	if _, err := NewHealthChecker(nil, HealthConfig{}); err == nil {
		t.Error("no pools accepted")
	}
	if _, err := NewHealthChecker(map[string]*Pool{"a": nil}, HealthConfig{}); err == nil {
		t.Error("nil pool accepted")
	}
	if _, err := NewHealthChecker(map[string]*Pool{"a": p, "b": p}, HealthConfig{}); err == nil {
		t.Error("one pool under two names accepted")
	}
}

// TestHealthInitialDownAppliesToAddedTargets: with Initial StateDown, a
// target added after Init is not picked before it passed its probes,
// with or without an Outlier combining the verdicts.
func TestHealthInitialDownAppliesToAddedTargets(t *testing.T) {
	for _, withOutlier := range []bool{false, true} {
		p, ts := fakePool(t, 1)
		cfg := HealthConfig{Initial: StateDown}
		var o *Outlier
		if withOutlier {
			o = newOutlier(t, p, OutlierConfig{PanicThreshold: -1})
		}
		hc := newChecker(t, p, cfg)
		hc.Init()
		hc.ReportAt(ts[0], nil, t0)
		hc.ReportAt(ts[0], nil, t0.Add(time.Second))
		u, _ := url.Parse("http://10.0.0.9:80")
		nt, err := p.Add(Upstream{URL: u})
		if err != nil {
			t.Fatal(err)
		}
		if o != nil {
			o.UpdateAt(t0) // republishes every target's ejection
		}
		if nt.Healthy() || p.Available() != 1 {
			t.Fatalf("outlier %v: added target healthy %v, available %d: want it down until probed", withOutlier, nt.Healthy(), p.Available())
		}
		hc.ReportAt(nt, nil, t0.Add(2*time.Second))
		hc.ReportAt(nt, nil, t0.Add(3*time.Second))
		if !nt.Healthy() {
			t.Fatalf("outlier %v: two passing probes did not bring the added target in", withOutlier)
		}
		hc.Close()
		nt2, _ := p.Add(Upstream{URL: &url.URL{Scheme: "http", Host: "10.0.0.8:80"}})
		if o != nil {
			o.UpdateAt(t0)
		}
		if !nt2.Healthy() {
			t.Fatalf("outlier %v: a target added after Close stays down", withOutlier)
		}
	}
}

// TestHealthCheckerProbesSharedAddressOnce: an address in three pools is
// probed once per round, its verdict applies in every pool, and each
// state change is logged once per pool, naming it.
func TestHealthCheckerProbesSharedAddressOnce(t *testing.T) {
	var probes atomic.Int64
	var failing atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer be.Close()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	pools := map[string]*Pool{
		"api":    poolOf(t, be.URL, other.URL),
		"web":    poolOf(t, be.URL),
		"static": poolOf(t, be.URL),
	}
	var logs strings.Builder
	var mu sync.Mutex
	hc, err := NewHealthChecker(pools, HealthConfig{Fall: 1, Rise: 1, Logger: slogTo(&logs, &mu)})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hc.checkAll()
	if n := probes.Load(); n != 1 {
		t.Fatalf("shared address probed %d times in one round, want 1", n)
	}
	failing.Store(true)
	hc.checkAll()
	for name, p := range pools {
		tg, _ := p.Lookup(strings.TrimSuffix(be.URL, "/"))
		if tg == nil {
			t.Fatalf("pool %s lost the target", name)
		}
		if tg.Healthy() || !tg.Status().CheckedDown {
			t.Errorf("pool %s: failing address still healthy", name)
		}
	}
	if !pools["api"].Targets()[1].Healthy() {
		t.Error("the other address went down with the failing one")
	}
	mu.Lock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	mu.Unlock()
	if len(lines) != 3 {
		t.Fatalf("%d log lines for one state change in three pools, want 3:\n%s", len(lines), logs.String())
	}
	for _, name := range []string{"api", "static", "web"} {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, "pool="+name+" ") && strings.Contains(l, "state=down")
		}
		if !found {
			t.Errorf("no log line names pool %s:\n%s", name, logs.String())
		}
	}
	st := hc.Statuses()
	if len(st) != 2 || strings.Join(st[0].Pools, ",") != "api,static,web" || st[0].Healthy {
		t.Fatalf("Statuses = %+v, want the shared address first, down, in pools api,static,web", st)
	}
}
