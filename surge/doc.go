// Package surge keeps backends inside their capacity when traffic spikes,
// tells the platform to add capacity, and brings the new capacity in gently.
//
// # Adaptive concurrency
//
// A [Limiter] admits at most Limit requests at once to the backends behind
// it (one per upstream pool or route) and learns Limit from what it
// admitted. Each sampling window (100ms and 10 samples by default) it
// compares the window's mean latency with the backends' no-load latency,
// measured on requests admitted while fewer than MinLimit were in flight:
//
//   - [AIMD], the default, multiplies the limit by Backoff (0.9) after a
//     window with a drop, or with at least half the limit in use and a
//     mean above Tolerance (1.5) times the no-load latency; otherwise,
//     when at least half of the limit was used, it adds the square root
//     of the limit while the mean stays well under the tolerance, and 1
//     near it.
//   - [Gradient] scales the limit by Tolerance times the no-load latency
//     over the mean, clamped to [0.5, 1] and smoothed, adding the square
//     root of the limit as headroom only while nothing queues.
//
// The no-load latency never rises from a loaded window, so a standing
// overload cannot teach the limiter to accept its own queueing: the limit
// does not creep upward under a steady mild overload. Timeouts, 5xx answers
// and dropped connections ([Dropped]) lower the limit; a client that went
// away and 4xx answers ([Ignored]) leave it alone. When the load falls the
// queueing ends and the limit grows back, as far as the traffic uses it.
// The limit starts at InitialLimit (20) within [MinLimit, MaxLimit] (5 to
// 1,000); [Limiter.SetLimit] overrides it in an emergency. The latency
// sampled by [Middleware] is the time to the response header. Per request
// the engine costs a few atomic operations and no allocation.
//
// # Shedding
//
// Over the limit, [Limiter.Acquire] waits in a short bounded queue (50
// requests, 100ms, FIFO or LIFO); then the request is shed and
// [Middleware] answers 503 application/problem+json with Retry-After: at
// once when the queue is full, after MaxWait otherwise, never after the
// backends' own queue. A [Priority]
// orders the shedding: Low first, High last (a High request arriving at a
// full queue displaces a lower one), and Exempt requests (health, admin)
// are never limited. The priority hook must not trust anything a client
// can set; see [MiddlewareConfig].Priority.
//
//	lim, _ := surge.NewLimiter(surge.LimiterConfig{})
//	h := surge.Middleware(lim, surge.MiddlewareConfig{
//		Priority: func(r *http.Request) surge.Priority {
//			if r.URL.Path == "/healthz" {
//				return surge.Exempt
//			}
//			return surge.Normal
//		},
//	})(px)
//
// # Surge detection
//
// A [Detector] samples a Limiter every Interval (250ms): the arrival rate
// over a short (10s) and a long (5m) window, the shed rate, the queue and
// the latency over the no-load latency. A surge starts when a signal holds
// for StartAfter (1s): the short rate at RateRatio (2) times the long one,
// 1% of arrivals shed, a standing queue, or latency at LatencyRatio (2)
// times no-load. It ends when every signal has been quiet, by thresholds
// below the starting ones, for Cooldown (30s). The events are "surge
// started", "surge sustained" (every SustainEvery, 1m, while a signal
// holds) and "surge ended", one start and one end per spike; they go to
// the OnEvent hook and the Logger, from the detector's goroutine, never a
// request's. [Detector.Stats] returns the state and the signals for
// metrics and admin pages.
//
//	det, _ := surge.NewDetector(lim, surge.DetectorConfig{Logger: logger, OnEvent: hook.Notify})
//	det.Start()
//	defer det.Close()
//
// # Scale-out
//
// There are two ways to tell a platform to add capacity. For Kubernetes,
// a metric: export [Signals].Pressure (offered over admitted load: 1 when
// nothing is shed, 2 when half is) as a gauge read at scrape time, for
// example with client_golang:
//
//	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
//		Name: "gatekit_surge_pressure",
//		Help: "Offered over admitted load; 1 when nothing is shed.",
//	}, func() float64 { return det.Stats().Signals.Pressure }))
//
// The Horizontal Pod Autoscaler of the backends' Deployment reads it as an
// external metric (through the Prometheus adapter) with a target of type
// Value and value 1: it then sets the replicas to the current number times
// the pressure, doubling the backends when half the load is shed. KEDA's
// Prometheus scaler does the same with the query
// max(gatekit_surge_pressure), threshold 1 and metricType Value. Pressure
// never drops below 1, so scaling in needs a utilisation metric beside it
// (CPU, or InFlight over Limit); keep the autoscaler's stabilisation
// window, since the detector already smooths over ShortWindow.
// Stats().State exported as 0 or 1 suits alerts and dashboards.
//
// For anything else (a cloud's scaling API behind a small receiver, a
// chat-ops bot), a [Webhook]: each event is POSTed as JSON with a timeout,
// retries with backoff and an HMAC-SHA256 signature header that the
// receiver checks with [VerifySignature]. Delivery runs on the webhook's
// own goroutine; a receiver that is down never slows a request.
//
// # Absorbing capacity
//
// New backends should not take a full share while cold. [AbsorbAt] adds a
// set of upstreams to a balancer.Pool in one call, all or none, each
// starting the ramp of the pool's balancer.SlowStart policy:
//
//	ss, _ := balancer.NewSlowStart(policy, balancer.SlowStartConfig{})
//	...
//	surge.Absorb(pool, ss, newUpstreams) // from the OnEvent hook, after the platform started them
//
// # Time
//
// The engines take time as an input: [Limiter.TryAcquireAt],
// [Token.ReleaseAt], [Detector.EvaluateAt] and [AbsorbAt] have twins that
// read the clock, for tests and simulations that run on their own time.
package surge
