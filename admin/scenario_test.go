package admin

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/internal/reqinfo"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/surge"
	gatetls "github.com/gatekit/gatekit/tls"
)

// chromium returns the path of a headless-capable Chromium, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not found; install it with: apt-get install -y chromium")
	return ""
}

// renderPage loads url in headless Chromium, lets its scripts run for
// budget of virtual time, and returns the DOM and Chromium's log.
func renderPage(t *testing.T, bin, url string, budget time.Duration) (dom, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=390,844",
		"--virtual-time-budget="+strconv.Itoa(int(budget/time.Millisecond)), "--dump-dom", url)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errs.String())
	}
	return out.String(), errs.String()
}

// cell returns the number shown in the element with id, or -1.
func cell(dom, id string) float64 {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(dom)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSuffix(m[1], " %"), ",", ""), 64)
	if err != nil {
		return -1
	}
	return v
}

// TestStatusPageInChromiumMovesWithTraffic renders the status page in a
// real headless Chromium, sends traffic through a gateway it watches, and
// renders it again: the page shows each route, pool and cache, its
// numbers follow the traffic, and it logs nothing to the console.
func TestStatusPageInChromiumMovesWithTraffic(t *testing.T) {
	bin := chromium(t)
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(nil, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ups, _ := balancer.ParseUpstreams("127.0.0.1:9001,127.0.0.1:9002")
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	pool.SetHealthy(pool.Targets()[1], false)
	app := metrics.Middleware(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqinfo.From(w).Rule = "api"
		cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, "hello")
		})).ServeHTTP(w, r)
	}))
	public := httptest.NewServer(app)
	defer public.Close()
	certs := func() []gatetls.CertState {
		return []gatetls.CertState{{Source: "file:edge.pem", Names: []string{"gw.test"}, Issuer: "CN=dev", NotAfter: time.Now().Add(30*24*time.Hour + time.Hour)}}
	}
	sl, err := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 40})
	if err != nil {
		t.Fatal(err)
	}
	det, err := surge.NewDetector(sl, surge.DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	shared := &sharedStub{st: ratelimit.SharedStats{Decisions: 40, Fallbacks: 7, Errors: 3, ToFallback: 1}}
	h := mustNew(t, Config{Metrics: m, Pools: map[string]*balancer.Pool{"api": pool}, Caches: map[string]*cache.Cache{"api": c},
		Certificates: map[string]func() []gatetls.CertState{"edge": certs}, Surge: map[string]*surge.Detector{"api": det},
		SharedLimiters: map[string]metrics.SharedLimiter{"global": shared}})
	adm := httptest.NewServer(h)
	defer adm.Close()

	send := func(n int) {
		for range n {
			resp, err := http.Get(public.URL + "/hello")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.Wait()
		}
	}
	send(3)
	dom, log := renderPage(t, bin, adm.URL+"/?refresh=500", 1500*time.Millisecond)
	if strings.Contains(log, "CONSOLE") {
		t.Errorf("the page wrote to the console:\n%s", log)
	}
	if got := cell(dom, "rule-api-requests"); got != 3 {
		t.Errorf("route api shows %v requests before the traffic, want 3\n%s", got, dom)
	}
	if !strings.Contains(dom, "127.0.0.1:9002") || !strings.Contains(dom, "1 of 2 available") {
		t.Errorf("the pool and its targets are not shown:\n%s", dom)
	}
	if !strings.Contains(dom, `class="badge up">30 d`) || !strings.Contains(dom, "gw.test") {
		t.Errorf("the certificate and its 30 days to expiry are not shown")
	}
	if got := cell(dom, "surge-api-limit"); got != 40 || !strings.Contains(dom, `class="badge up">calm`) {
		t.Errorf("the surge row shows limit %v (want 40) or is not calm", got)
	}
	if !strings.Contains(dom, `class="badge up">ready`) {
		t.Error("the readiness badge does not say ready")
	}
	if cell(dom, "shared-global-decisions") != 40 || cell(dom, "shared-global-fallbacks") != 7 || cell(dom, "shared-global-errors") != 3 ||
		!strings.Contains(dom, `class="badge warn">fallback`) || strings.Contains(dom, `id="shared-section" hidden`) {
		t.Errorf("the shared limiter is not shown deciding by its fallback, 40, 7 and 3:\n%s", dom)
	}

	send(20)
	dom, log = renderPage(t, bin, adm.URL+"/?refresh=500", 1500*time.Millisecond)
	if strings.Contains(log, "CONSOLE") {
		t.Errorf("the page wrote to the console:\n%s", log)
	}
	if got := cell(dom, "rule-api-requests"); got != 23 {
		t.Errorf("route api shows %v requests after 20 more, want 23", got)
	}
	if hits := cell(dom, "cache-api-hits"); hits != 22 {
		t.Errorf("cache api shows %v hits, want 22 (every request but the first)", hits)
	}
	if ratio := cell(dom, "cache-api-ratio"); ratio < 95 || ratio > 96 {
		t.Errorf("cache api hit ratio = %v %%, want 95.7", ratio)
	}
}

// TestReadyzFlipsBeforeTheListenerCloses serves a public gatekit.Server
// with a shutdown delay and its admin handler on a second listener: once
// shutdown starts, /readyz answers 503 while the public listener still
// accepts requests.
func TestReadyzFlipsBeforeTheListenerCloses(t *testing.T) {
	srv, err := gatekit.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		gatekit.ServerConfig{ShutdownDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	adm := httptest.NewServer(mustNew(t, Config{Ready: srv.Ready}))
	defer adm.Close()
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	public := "http://" + ln.Addr().String() + "/"
	if got := status(public); got != 200 {
		t.Fatalf("public server = %d before shutdown", got)
	}
	if got := status(adm.URL + "/readyz"); got != 200 {
		t.Fatalf("/readyz = %d before shutdown, want 200", got)
	}
	cancel()
	deadline := time.Now().Add(time.Second)
	for status(adm.URL+"/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 within a second of shutdown starting")
		}
		runtime.Gosched()
	}
	if got := status(public); got != 200 {
		t.Errorf("the public listener answered %d while /readyz already said 503, want 200 (still serving)", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
