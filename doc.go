// Package gatekit is an embeddable toolkit for building API gateways and L7
// load balancers in Go.
//
// gatekit is not a server configured from files: every piece is a Go value
// with a documented zero value, used from the program that imports it. Its
// purpose is to take load off backends: answer from cache, reject or queue
// excess, reject invalid requests early, spread the rest well, and survive
// backends failing.
//
// # Packages
//
// This package assembles the others. Each of them is usable alone:
//
//   - [github.com/gatekit/gatekit/clientip] finds the client address,
//     trusting forwarding headers only from configured proxies.
//   - [github.com/gatekit/gatekit/route] routes by host, path, method,
//     header, query, cookie and JSON body, with groups of rules sharing
//     middleware, weighted splits, mirroring, rewrites and redirects.
//   - [github.com/gatekit/gatekit/pathcanon] is the one canonical form of a
//     request path and host that is matched, policed and forwarded.
//   - [github.com/gatekit/gatekit/reqkey] holds the request keys (client
//     address, route, header, cookie, query) that limits, hashes and splits
//     share.
//   - [github.com/gatekit/gatekit/balancer] holds pools of targets and the
//     policies that pick one (round robin, smooth weighted, least-request,
//     least-connections, random, consistent hash, peak EWMA, sticky
//     sessions), with health checks, outlier ejection, breaking, slow
//     start and DNS discovery.
//   - [github.com/gatekit/gatekit/proxy] forwards a request to the target a
//     policy picked: retries and their budget, timeouts, draining, header
//     rewriting and the response-framing guard.
//   - [github.com/gatekit/gatekit/ratelimit] limits requests per key with
//     token buckets, rejecting the excess with 429 or queueing it, and
//     limits requests in flight;
//     [github.com/gatekit/gatekit/ratelimit/redisrate] shares a limit
//     between gateway instances through Redis.
//   - [github.com/gatekit/gatekit/validate] validates requests against an
//     OpenAPI 3 document, or spec-free rules, before they cost a backend
//     anything.
//   - [github.com/gatekit/gatekit/cache] is an RFC 9111 shared cache with
//     request coalescing and purging that never shares private responses
//     (mounted on GET routes only, it needs
//     [github.com/gatekit/gatekit/cache.Invalidator] on the routes that
//     write the same paths);
//     [github.com/gatekit/gatekit/cache/rediscache] shares it between
//     gateway instances.
//   - [github.com/gatekit/gatekit/surge] keeps backends inside their
//     capacity during spikes: an adaptive concurrency limit learnt from
//     latency and errors, a short priority queue then 503, surge events
//     for scale-out hooks, and new backends brought in with slow start.
//   - [github.com/gatekit/gatekit/tls] (imported as gatetls) terminates
//     TLS: certificate files validated before a hot swap, SNI, ACME,
//     development certificates, a secure tls.Config for [ServerConfig],
//     per-host client certificates, HSTS and TLS to upstreams.
//   - [github.com/gatekit/gatekit/metrics] exports everything as Prometheus
//     metrics: requests per route rule, and the engines' Stats read at
//     scrape time.
//   - [github.com/gatekit/gatekit/admin] serves the operations endpoints on
//     a listener of their own: health, readiness, status as JSON, cache
//     purging, /metrics and a self-contained status page.
//
// What each stage did to a request (the rule, the target and attempts, the
// cache's and the limiter's verdicts) reaches one [AccessLog] record per
// request, and W3C trace context passes through ([TraceContext]);
// [Lifecycle] starts a program's servers and closes what it built, in
// order.
//
// A route's middleware runs the cheapest rejection first: rate limiting,
// then validation (before the cache, so an invalid request is never
// answered from an entry keyed without the field that made it invalid),
// then the cache, then the proxy:
//
//	{Path: "/api/*", Handler: px, Middleware: []func(http.Handler) http.Handler{
//		ratelimit.Middleware(lim), validate.Middleware(v), cache.Middleware(c),
//	}}
//
// # The one shape
//
// Every package has an engine, a concrete type safe for concurrent use whose
// methods take no net/http types (a Pool's Pick, a Resolver's Resolve), and an
// adapter to the standard library: a middleware of the form
// func(http.Handler) http.Handler, or an http.Handler. Constructors take
// required inputs by position and one Config struct by value; a zero field
// selects the documented default, and invalid configuration is an error from
// the constructor, never a panic.
//
// # A whole gateway
//
// [New] mounts route rules, each with its own middleware list, behind the
// global chain of a [Gateway]: [AssignRequestID], client IP
// ([clientip.Middleware]), [AccessLog], [Recover] and [Hygiene], each a
// middleware usable alone, as chi's are; [NewHandler] puts the same chain
// in front of any handler. [NewServer] serves it with safe timeouts,
// refuses ambiguously framed requests, and shuts it down gracefully when a
// context is cancelled; plaintext HTTP/1 it serves with a connection loop
// of its own that behaves as net/http's server does for less work per
// request (TLS and HTTP/2 stay with net/http's):
//
//	ups, _ := balancer.ParseUpstreams("10.0.0.1:8080,10.0.0.2:8080")
//	pool, _ := balancer.NewPool(ups)
//	policy, _ := balancer.NewPolicy("least-request", pool, balancer.PolicyConfig{})
//	px, _ := proxy.New(policy, proxy.Config{})
//	g, err := gatekit.New([]route.Rule{
//		{Path: "/api/*", Handler: px, Middleware: []func(http.Handler) http.Handler{auth}},
//	}, gatekit.Config{Logger: slog.Default()})
//	srv, err := gatekit.NewServer(g, gatekit.ServerConfig{})
//	err = srv.ListenAndServe(ctx, ":8080")
//
// # Concurrency
//
// Gateways, servers, resolvers, pools, policies and proxies are safe for use
// by multiple goroutines. Middleware chains are built once, when a Gateway is
// constructed, never per request.
//
// # Errors
//
// Clients receive RFC 9457 application/problem+json documents with the right
// status (400, 404, 405, 408, 413, 414, 421, 429, 431, 500, 502, 503, 504)
// and never internal error text; panics are logged and answered 500, or,
// when the response had already started, the connection is aborted so that
// a truncated response cannot look complete. The log-only status 499 (the
// client went away) is never sent: the connection is closed instead. The
// errors net/http sends itself, before any handler runs (malformed request
// lines and headers, headers over twice ServerConfig.MaxHeaderBytes,
// unsupported transfer codings and versions), are rewritten as
// problem+json by a [Server] on plaintext connections; on TLS connections
// they stay net/http's text/plain.
//
// # Security
//
// The defaults are the safe ones. Forwarding headers (X-Forwarded-For,
// Forwarded) are ignored unless the peer is a configured trusted proxy;
// header names containing '_' are rejected
// ([HygieneConfig].InsecureAllowUnderscoreHeaders weakens this); requests
// with more than 100 header fields or targets longer than 8 KiB are
// rejected; bodies are capped at 1 MiB; the PRI method and asterisk-form
// targets outside OPTIONS are rejected. A [Server] cuts off a response
// write that blocks for 30 s on a client that does not read and a request
// body that sends nothing for 10 s (408); rejects requests framed by both
// Content-Length and Transfer-Encoding, by Transfer-Encoding on HTTP/1.0,
// or with folded header lines, with 400 and Connection: close
// ([ServerConfig].InsecureAllowAmbiguousFraming weakens this); times out
// slow headers after 5 s and whole requests after 60 s, caps headers at
// 64 KiB and connections at 10,000 per listener, and speaks unencrypted
// HTTP/2 (prior-knowledge h2c, never the Upgrade: h2c path) only with
// [ServerConfig].UnencryptedHTTP2. The Gateway answers gRPC callers
// (Content-Type application/grpc*) with gRPC statuses instead of
// problem+json.
package gatekit
