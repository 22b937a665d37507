// Package proxy forwards requests to the targets a balancer policy picks.
//
// [Proxy] is an http.Handler with a forwarding path and upstream
// connections of its own (see Connections); WebSocket tunnels alone go
// through httputil.ReverseProxy, which hijacks the client's connection.
// For each request it asks a [balancer.Policy] for a target, rewrites the
// request (X-Forwarded-* set by the gateway only; hop-by-hop fields, those
// the Connection field names, request trailers and h2c upgrades dropped;
// queries net/url cannot parse re-encoded), forwards it, relays the
// response (1xx responses, trailers, streams flushed as they arrive) and
// reports the outcome to the policy through the pick's done function:
//
//	ups, _ := balancer.ParseUpstreams("10.0.0.1:8080,10.0.0.2:8080")
//	pool, _ := balancer.NewPool(ups)
//	lr, _ := balancer.NewLeastRequest(pool, balancer.LoadConfig{})
//	px, err := proxy.New(lr, proxy.Config{Key: reqkey.ClientIP})
//	...
//	http.Handle("/api/", px)
//
// Failures are RFC 9457 problem responses ([WriteError]): 502 when the
// target answered badly or failed after the request may have reached it,
// 504 when it timed out, 503 with Retry-After when no target is available or
// none tried could be connected to (the request reached no target). A client
// that went away is logged as 499 and never counted against the target.
//
// # Retries
//
// A request that may have reached a target is sent again only when it is
// idempotent on its route ([RetryConfig]), to another target, within a
// [RetryBudget]; in particular a re-send that the upstream connections
// attempt on their own (HTTP/1 keep-alive races, an HTTP/2 stream reset
// after the body went out) is stopped for any other request, which then
// fails with 502 ([Stats] counts them). A request that provably reached no
// target (refused dial, failed TLS handshake) is retried whatever its
// method.
//
// # HTTP/2 and gRPC
//
// An https target speaks HTTP/2 when it offers it (ALPN); an h2c:// target
// (balancer.SchemeH2C) is always spoken to in plaintext HTTP/2 with prior
// knowledge, over a Transport of its own that the default one hands h2c
// URLs to (a Config.Transport of the caller's gets h2c:// URLs as they
// are). Requests are streams multiplexed over a target's connections,
// and a target gets another connection when its stream limit saturates
// the ones it has. Balancing is per request, so one client connection's
// gRPC calls spread over every target.
//
// A gRPC call (Content-Type application/grpc*) is relayed as a stream in
// both directions: its request body is never read ahead, and each
// response message is flushed as it arrives, with the target's trailers
// (status, message, custom metadata) relayed intact. A call is sent again
// only when it provably reached no target, or after a status that
// RetryConfig.GRPCStatuses names, answered before any message. Its grpc-timeout is its
// deadline, capped by Config.Timeout, and the target is told the time
// left. The proxy's own errors reach the caller as gRPC statuses, HTTP 200
// with grpc-status and grpc-message (UNAVAILABLE for no target, with the
// Retry-After as grpc-retry-pushback-ms; DEADLINE_EXCEEDED for a timeout;
// INVALID_ARGUMENT for an unreadable request), never as problem+json, and
// a response that fails once started (the target died, the deadline
// passed) ends with grpc-status UNAVAILABLE or DEADLINE_EXCEEDED rather
// than a reset stream. Long-lived streams need a route with a negative
// Timeout (and a StreamIdleTimeout) and a ResponseHeaderTimeout above the
// time a target takes to send its first message.
//
// # Connections
//
// Without Config.Transport, requests to plain-http targets go over
// HTTP/1.1 keep-alive connections the proxy uses synchronously, on the
// request's own goroutine: the request goes out in one write and the
// response is read as the client is sent it, with none of http.Transport's
// per-connection goroutines. Before an idle connection is reused, a
// non-blocking read checks that its target neither closed it nor sent
// anything since. The route's deadline (Config.Timeout) ends an exchange
// on time; a client that goes away ends it once it has run 100 ms (a
// quick exchange is never tied to the client's context, which costs
// several allocations per request). Everything else goes through a
// tuned http.Transport ([NewTransport]): https targets (which may speak
// HTTP/2), protocol upgrades, Expect: 100-continue, request bodies over
// 32 KiB or of unknown length, and every request when
// TransportConfig.MaxConnsPerHost is set.
//
// Either way every HTTP/1 response is framed as it is read, so that bytes
// a target sends past the end of a response (or while its connection is
// idle) are never handed to another client's request: the connection is
// discarded and the target quarantined (TransportConfig.DesyncQuarantine).
// [Proxy.Drain] completes the removal of a target, closing its connections
// as their responses end.
//
// # Security
//
// Client-sent Forwarded, X-Forwarded-*, X-Real-IP and similar headers are
// removed unless clientip found the socket peer to be a trusted proxy
// (clientip.PeerTrusted), and so are request headers whose names contain an
// underscore (some backends read X_Forwarded_For as X-Forwarded-For):
// Config.InsecureAllowUnderscoreHeaders loosens this. Requests with the
// PRI method (the HTTP/2 connection preface) and asterisk-form targets
// ("*") on any method other than OPTIONS are answered 400 without
// contacting a target ([ErrNotForwardable]). Upgrades other than WebSocket
// (where Config.WebSocket allows it) are refused, and h2c upgrades are
// never forwarded.
package proxy
