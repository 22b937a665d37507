package gatekit

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/route"
)

// Config configures a Gateway. The zero value is a safe default: no proxy is
// trusted, headers with underscores are rejected, and nothing is logged.
type Config struct {
	// Logger receives the access log (one Info record per request, see
	// AccessLog) and panics (Error, see Recover). If nil, the Gateway is
	// silent.
	Logger *slog.Logger
	// TrustedProxies are the prefixes of proxies in front of the gateway whose
	// X-Forwarded-For (or Forwarded) headers are believed. If empty, the client
	// is always the socket peer and client-sent forwarding headers are ignored.
	// Used by New only.
	TrustedProxies []netip.Prefix
	// ForwardedHeader selects the header read from trusted proxies:
	// clientip.XForwardedFor (default) or clientip.Forwarded; it needs
	// TrustedProxies. Used by New only.
	ForwardedHeader string
	// NewRequestID returns a fresh request ID when the request carries no
	// well-formed X-Request-ID (see AssignRequestID). If nil, 16 random
	// bytes in hex are used.
	NewRequestID func() string
	// AccessLog samples and filters the access log (see AccessLog); it
	// needs Logger.
	AccessLog AccessLogConfig
	// Trace configures W3C trace context handling (see TraceContext):
	// valid traceparent headers always pass upstream; Trace.Generate starts
	// a trace for requests without one.
	Trace TraceConfig
	// Hygiene sets the request limits (see Hygiene): header count, target
	// length, body size, underscores in header names.
	Hygiene HygieneConfig
	// Route configures the route table New builds: canonical path handling,
	// the default host, body inspection limits and the error writer. Used
	// by New only.
	Route route.Config
}

// Gateway is the assembled gateway: an http.Handler that runs the global
// chain, AssignRequestID, clientip.Middleware, AccessLog, TraceContext,
// Recover and Hygiene (outermost first), in front of a route.Table. Each of them is
// usable alone. It is safe for concurrent use. Close it to stop the
// table's mirrored requests. Serve it with a Server for the connection
// limits (timeouts, write and body read idle timeouts, framing checks).
type Gateway struct {
	handler http.Handler
	table   *route.Table
}

// New returns a Gateway that routes with rules (see package route: host,
// path pattern, method, header, query, cookie and JSON body predicates, each
// rule with its own middleware list) behind the global chain. It returns an
// error for an invalid rule or an invalid Config.
func New(rules []route.Rule, cfg Config) (*Gateway, error) {
	res, err := clientip.New(clientip.Config{TrustedProxies: cfg.TrustedProxies, Header: cfg.ForwardedHeader})
	if err != nil {
		return nil, fmt.Errorf("gatekit: %w", err)
	}
	table, err := route.New(rules, cfg.Route)
	if err != nil {
		return nil, fmt.Errorf("gatekit: %w", err)
	}
	cfg.TrustedProxies, cfg.ForwardedHeader, cfg.Route = nil, "", route.Config{}
	g, err := NewHandler(table, cfg, res)
	if err != nil {
		table.Close()
		return nil, err
	}
	g.table = table
	return g, nil
}

// Swap atomically replaces the Gateway's rules; requests already routed
// finish with the old ones. On error the current rules stay in place.
func (g *Gateway) Swap(rules []route.Rule) error {
	if g.table == nil {
		return errors.New("gatekit: Swap on a Gateway built by NewHandler")
	}
	return g.table.Swap(rules)
}

// Close stops the route table's mirrored requests and waits for them. It is
// idempotent.
func (g *Gateway) Close() error {
	if g.table != nil {
		return g.table.Close()
	}
	return nil
}

// NewHandler wraps any handler, such as a route.Table or an http.ServeMux,
// in the Gateway's global chain. res resolves client addresses; nil trusts
// no proxy. It returns an error for a nil handler, a negative limit, or a
// Config field only New uses (TrustedProxies, ForwardedHeader, Route), which
// NewHandler would otherwise silently ignore: res replaces the first two.
func NewHandler(h http.Handler, cfg Config, res *clientip.Resolver) (*Gateway, error) {
	if h == nil {
		return nil, errors.New("gatekit: nil handler")
	}
	if len(cfg.TrustedProxies) > 0 || cfg.ForwardedHeader != "" || !reflect.ValueOf(cfg.Route).IsZero() {
		return nil, errors.New("gatekit: NewHandler does not use Config.TrustedProxies, ForwardedHeader or Route; pass a clientip.Resolver and configure the handler itself")
	}
	hygiene, err := Hygiene(cfg.Hygiene)
	if err != nil {
		return nil, err
	}
	accessLog, err := AccessLog(cfg.Logger, cfg.AccessLog)
	if err != nil {
		return nil, err
	}
	chain := Chain(AssignRequestID(cfg.NewRequestID), clientip.Middleware(res), accessLog, TraceContext(cfg.Trace), Recover(cfg.Logger), hygiene)
	return &Gateway{handler: chain(h)}, nil
}

// ServeHTTP serves r through the global chain and the routes. The
// gateway's own errors (no route, rate limited, shed, invalid, no
// target, timeout) reach a gRPC caller (Content-Type application/grpc*)
// as gRPC statuses, HTTP 200 with grpc-status and grpc-message, rather
// than as problem+json, which gRPC clients cannot read.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if problem.IsGRPC(r) {
		w, finish := problem.GRPCWriter(w, r)
		defer finish()
		g.handler.ServeHTTP(w, r)
		return
	}
	g.handler.ServeHTTP(w, r)
}

// Chain composes middlewares so that Chain(a, b)(h) is a(b(h)): the first
// runs outermost. The composition happens once, when the returned function
// is called, never per request.
func Chain(mws ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
}
