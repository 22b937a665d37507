package surge_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/surge"
)

func ExampleMiddleware() {
	lim, err := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	if err != nil {
		panic(err)
	}
	h := surge.Middleware(lim, surge.MiddlewareConfig{
		Priority: func(r *http.Request) surge.Priority {
			if r.URL.Path == "/healthz" {
				return surge.Exempt // health checks are never shed
			}
			return surge.Normal
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))

	busy, _ := lim.TryAcquire() // another request holds the only slot
	for _, path := range []string{"/api", "/healthz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Printf("%s %d %s retry-after=%q\n", path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Retry-After"))
	}
	busy.Release(surge.Success)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api", nil))
	fmt.Println("/api", rec.Code)
	// Output:
	// /api 503 application/problem+json retry-after="1"
	// /healthz 200 text/plain; charset=utf-8 retry-after=""
	// /api 200
}

func ExampleLimiter_TryAcquireAt() {
	lim, _ := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 2, MinLimit: 1, MaxLimit: 2})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, _ := lim.TryAcquireAt(t0)
	b, _ := lim.TryAcquireAt(t0)
	_, err := lim.TryAcquireAt(t0)
	fmt.Println(err)
	a.ReleaseAt(t0.Add(20*time.Millisecond), surge.Success) // answered in 20ms
	b.ReleaseAt(t0.Add(5*time.Millisecond), surge.Ignored)  // the client went away
	st := lim.Stats()
	fmt.Println("admitted", st.Admitted, "shed", st.Shed, "in flight", st.InFlight)
	// Output:
	// surge: concurrency limit reached
	// admitted 2 shed 1 in flight 0
}

// A spike of traffic over a limit of 10: one start, one end, reported to
// the hook from the evaluating goroutine.
func ExampleDetector_EvaluateAt() {
	lim, _ := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	det, _ := surge.NewDetector(lim, surge.DetectorConfig{OnEvent: func(e surge.Event) {
		fmt.Printf("%v at %v, pressure %.1f\n", e.Kind, e.At.Sub(t0), e.Signals.Pressure)
	}})
	now := t0
	det.EvaluateAt(now)
	offer := func(perTick int, d time.Duration) {
		for end := now.Add(d); now.Before(end); now = now.Add(250 * time.Millisecond) {
			var toks []surge.Token
			for range perTick {
				if tok, err := lim.TryAcquireAt(now); err == nil {
					toks = append(toks, tok)
				}
			}
			for _, tok := range toks {
				tok.ReleaseAt(now.Add(time.Millisecond), surge.Success)
			}
			det.EvaluateAt(now.Add(250 * time.Millisecond))
		}
	}
	offer(5, time.Minute)     // 20 requests a second
	offer(40, 10*time.Second) // 160 a second: 120 shed
	offer(5, 2*time.Minute)   // back to normal
	fmt.Println(det.Stats().State)
	// Output:
	// surge started at 1m1.25s, pressure 1.6
	// surge ended at 1m57s, pressure 1.0
	// calm
}

func ExampleAbsorbAt() {
	ups, _ := balancer.ParseUpstreams("10.0.0.1:8080")
	pool, _ := balancer.NewPool(ups)
	rr, _ := balancer.NewPolicy("round-robin", pool, balancer.PolicyConfig{})
	ss, _ := balancer.NewSlowStart(rr, balancer.SlowStartConfig{Window: 30 * time.Second, MinFactor: 0.1})
	// proxy over ss ...

	// After a scale-out started two more backends:
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	more, _ := balancer.ParseUpstreams("10.0.0.2:8080,10.0.0.3:8080")
	added, err := surge.AbsorbAt(pool, ss, more, now)
	if err != nil {
		panic(err)
	}
	fmt.Println("targets:", pool.Len())
	for _, at := range []time.Duration{0, 15 * time.Second, 30 * time.Second} {
		fmt.Printf("share of %s after %v: %.2f\n", added[0], at, ss.FactorAt(added[0], now.Add(at)))
	}
	// Output:
	// targets: 3
	// share of http://10.0.0.2:8080 after 0s: 0.10
	// share of http://10.0.0.2:8080 after 15s: 0.50
	// share of http://10.0.0.2:8080 after 30s: 1.00
}

// A receiver checks each delivery's signature before acting on it.
func ExampleWebhook() {
	secret := []byte("a-secret-of-at-least-16-bytes")
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := surge.VerifySignature(secret, body, r.Header.Get(surge.SignatureHeader), time.Now(), 0); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev surge.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		got <- fmt.Sprintf("%v, pressure %.1f", ev.Kind, ev.Signals.Pressure) // start more backends here
	}))
	defer receiver.Close()

	hook, err := surge.NewWebhook(receiver.URL, surge.WebhookConfig{Secret: secret})
	if err != nil {
		panic(err)
	}
	defer hook.Close()
	hook.Notify(surge.Event{Kind: surge.Started, At: time.Now(), Signals: surge.Signals{Pressure: 2}}) // returns at once
	fmt.Println(<-got)
	// Output:
	// surge started, pressure 2.0
}

// A priority header believed only from the gateway's own trusted proxy
// (which sets it, and strips any copy a client sent): the same header from
// anyone else is ignored, so no client can promote itself.
func ExampleMiddlewareConfig_priority() {
	res, _ := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	priority := func(r *http.Request) surge.Priority {
		switch {
		case r.URL.Path == "/healthz":
			return surge.Exempt
		case clientip.PeerTrusted(r) && r.Header.Get("X-Priority") == "high":
			return surge.High
		}
		return surge.Normal
	}
	show := clientip.Middleware(res)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.RemoteAddr, r.URL.Path, priority(r))
	}))
	for _, from := range []string{"10.1.2.3:4000", "203.0.113.9:4000"} {
		r := httptest.NewRequest("GET", "/api", nil)
		r.RemoteAddr = from
		r.Header.Set("X-Priority", "high")
		show.ServeHTTP(httptest.NewRecorder(), r)
	}
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.RemoteAddr = "203.0.113.9:4000"
	show.ServeHTTP(httptest.NewRecorder(), r)
	// Then: surge.Middleware(lim, surge.MiddlewareConfig{Priority: priority}), behind clientip.Middleware.

	// Output:
	// 10.1.2.3:4000 /api high
	// 203.0.113.9:4000 /api normal
	// 203.0.113.9:4000 /healthz exempt
}
