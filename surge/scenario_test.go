package surge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// The overload run's backend serves backendSlots requests at once in
// backendService each; more wait inside it, in arrival order, and get
// slower. Like most servers it does not notice that a client gave up: a
// request waiting in it is still served, later, for nobody.
const (
	backendSlots   = 4
	backendService = 200 * time.Millisecond
	clientTimeout  = 5 * backendService
	overloadFor    = 4 * time.Second
)

type slowBackend struct {
	slots chan struct{}
	stop  chan struct{}
}

func (b *slowBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case b.slots <- struct{}{}:
	case <-b.stop:
		return
	}
	t := time.NewTimer(backendService)
	select {
	case <-t.C:
	case <-b.stop:
		t.Stop()
	}
	<-b.slots
	io.WriteString(w, "ok")
}

type sample struct {
	phase  int
	lat    time.Duration
	status int // 0: no answer within clientTimeout
}

// overloadRun offers half the backend's capacity for a while (phase 0),
// twice its capacity (phase 1), then half again (phase 2), through a
// gateway with mw in front of the backend (none when nil), and returns
// every request's outcome.
func overloadRun(t *testing.T, mw func(http.Handler) http.Handler) []sample {
	b := &slowBackend{slots: make(chan struct{}, backendSlots), stop: make(chan struct{})}
	backend := httptest.NewServer(b)
	defer backend.Close()
	defer close(b.stop) // first: frees the handlers the abandoned requests left
	u, _ := url.Parse(backend.URL)
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }}
	var h http.Handler = rp
	if mw != nil {
		h = mw(rp)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()
	ctr := &http.Transport{MaxIdleConnsPerHost: 1024}
	defer ctr.CloseIdleConnections()
	client := &http.Client{Transport: ctr, Timeout: clientTimeout}

	capacity := float64(backendSlots) / backendService.Seconds()
	phases := []struct {
		rate float64
		d    time.Duration
	}{
		{capacity / 2, time.Second},
		{capacity * 2, overloadFor},
		{capacity / 2, 2 * time.Second},
	}
	var mu sync.Mutex
	var out []sample
	var wg sync.WaitGroup
	for i, ph := range phases {
		start, sent := time.Now(), 0
		for time.Since(start) < ph.d {
			due := int(time.Since(start).Seconds() * ph.rate)
			for ; sent < due; sent++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t0 := time.Now()
					s := sample{phase: i}
					resp, err := client.Get(gw.URL)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if err == nil {
							s.status = resp.StatusCode
						}
					}
					s.lat = time.Since(t0)
					mu.Lock()
					out = append(out, s)
					mu.Unlock()
				}()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	wg.Wait()
	return out
}

// phaseOf returns the samples of requests sent in phase.
func phaseOf(ss []sample, phase int) []sample {
	var out []sample
	for _, s := range ss {
		if s.phase == phase {
			out = append(out, s)
		}
	}
	return out
}

// count returns how many of ss were answered status (0: not in time).
func count(ss []sample, status int) int {
	n := 0
	for _, s := range ss {
		if s.status == status {
			n++
		}
	}
	return n
}

// quantile returns the q-quantile latency of the requests of ss answered
// status, 0 if there are none.
func quantile(ss []sample, status int, q float64) time.Duration {
	var lats []time.Duration
	for _, s := range ss {
		if s.status == status {
			lats = append(lats, s.lat)
		}
	}
	if len(lats) == 0 {
		return 0
	}
	slices.Sort(lats)
	return lats[min(len(lats)-1, int(q*float64(len(lats))))]
}

// TestOverloadWithAndWithoutSurge offers twice a backend's capacity for
// four seconds between two stretches of half its capacity, once through the
// surge middleware and once straight, and compares them by ratios only
// (unloaded latency L0 and capacity are measured in the same run).
//
// With surge the backend is kept near its concurrency: goodput stays near
// capacity, admitted requests stay within a small multiple of L0, the
// excess is turned away in a fraction of L0, and everything is served
// again once the load falls. Without it the backend's own queue grows
// until answers come too late for their clients, which have given up,
// while the backend goes on serving them: goodput collapses, and the
// backlog keeps failing requests after the load has fallen.
func TestOverloadWithAndWithoutSurge(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run of 7 seconds or more on loopback")
	}
	// The run without surge goes alongside the first with it: each offers
	// at most 40 requests a second, and they share nothing.
	var without []sample
	done := make(chan struct{})
	go func() {
		defer close(done)
		without = overloadRun(t, nil)
	}()
	// A machine shared with other work can stall this process for a good
	// part of a second, which shows in the tail latencies for reasons
	// outside the gateway: the run with surge may be repeated twice, and
	// must meet every bound in one run.
	var problems []string
	var goodput float64
	for attempt := 1; attempt <= 3; attempt++ {
		goodput, problems = runWithSurge(t)
		if len(problems) == 0 {
			break
		}
		t.Logf("run %d with surge: %v", attempt, problems)
	}
	for _, p := range problems {
		t.Error(p)
	}
	<-done
	overW, afterW := phaseOf(without, 1), phaseOf(without, 2)
	goodputW := float64(count(overW, 200)) / overloadFor.Seconds()
	t.Logf("without surge: goodput %.0f/s, %d of %d timed out, recovery %d/%d",
		goodputW, count(overW, 0), len(overW), count(afterW, 200), len(afterW))
	if goodputW > 0.6*goodput {
		t.Errorf("without surge: goodput %.0f/s, want the collapse below 60%% of the %.0f/s with surge", goodputW, goodput)
	}
	if ok := count(afterW, 200); float64(ok) > 0.5*float64(len(afterW)) {
		t.Errorf("without surge: %d of %d requests served after the load fell, want the backlog to fail most", ok, len(afterW))
	}
}

// runWithSurge makes one overload run through the surge middleware and
// returns its goodput and the bounds it missed.
func runWithSurge(t *testing.T) (goodput float64, problems []string) {
	// The limit starts at the backend's size, as an operator who knows it
	// would configure (the dynamics tests cover learning it from afar),
	// and the queue wait is short next to the backend's latency.
	l := mustLimiter(t, LimiterConfig{InitialLimit: backendSlots, MinLimit: 2, MaxWait: backendService / 5})
	with := overloadRun(t, Middleware(l, MiddlewareConfig{}))
	l0 := quantile(phaseOf(with, 0), 200, 0.5)
	capacity := float64(backendSlots) / l0.Seconds()
	over, after := phaseOf(with, 1), phaseOf(with, 2)
	goodput = float64(count(over, 200)) / overloadFor.Seconds()
	t.Logf("with surge: L0 %v, capacity %.0f/s, goodput %.0f/s, admitted p99 %v, shed %d (median %v, p90 %v), recovery %d/%d, limit %d",
		l0, capacity, goodput, quantile(over, 200, 0.99), count(over, 503), quantile(over, 503, 0.5), quantile(over, 503, 0.9), count(after, 200), len(after), l.Limit())
	if goodput < 0.7*capacity {
		problems = append(problems, fmt.Sprintf("goodput %.0f/s, want at least 70%% of capacity %.0f/s", goodput, capacity))
	}
	if p99 := quantile(over, 200, 0.99); p99 > 4*l0 {
		problems = append(problems, fmt.Sprintf("admitted p99 %v, want at most 4 x L0 %v", p99, l0))
	}
	if count(over, 503) == 0 {
		problems = append(problems, "nothing shed at twice the capacity")
	} else if p50 := quantile(over, 503, 0.5); p50 > l0/2 {
		// The median: a shed request waits MaxWait (L0/5) at most, and
		// the tail shows the machine's stalls more than the gateway.
		problems = append(problems, fmt.Sprintf("shed median %v, want at most L0/2 %v", p50, l0/2))
	}
	if ok := count(after, 200); float64(ok) < 0.9*float64(len(after)) {
		problems = append(problems, fmt.Sprintf("%d of %d requests served after the load fell, want 90%%", ok, len(after)))
	}
	return goodput, problems
}
