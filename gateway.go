package gatekit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/route"
)

// RequestIDHeader is the header that carries the request ID in both directions.
const RequestIDHeader = "X-Request-ID"

// Defaults of the request hygiene checks of the Gateway.
const (
	// DefaultMaxHeaderCount is the most request header fields accepted (431 above).
	DefaultMaxHeaderCount = 100
	// DefaultMaxURILength is the longest request target accepted, in bytes (414 above).
	DefaultMaxURILength = 8 << 10
	// DefaultMaxBodyBytes is the largest request body accepted, in bytes (413 above).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultWriteIdleTimeout is how long one write of a response may block
	// on a client that does not read.
	DefaultWriteIdleTimeout = 30 * time.Second
)

// Config configures a Gateway. The zero value is a safe default: no proxy is
// trusted, headers with underscores are rejected, and nothing is logged.
type Config struct {
	// Logger receives the access log (one Info record per request), panics
	// (Error) and configuration warnings. If nil, the Gateway is silent.
	Logger *slog.Logger
	// TrustedProxies are the prefixes of proxies in front of the gateway whose
	// X-Forwarded-For (or Forwarded) headers are believed. If empty, the client
	// is always the socket peer and client-sent forwarding headers are ignored.
	TrustedProxies []netip.Prefix
	// ForwardedHeader selects the header read from trusted proxies:
	// clientip.XForwardedFor (default) or clientip.Forwarded.
	ForwardedHeader string
	// NewRequestID returns a fresh request ID when the request carries no
	// well-formed X-Request-ID. If nil, 16 random bytes in hex are used.
	NewRequestID func() string
	// MaxHeaderCount is the most request header fields accepted; a request
	// with more is answered 431. If zero, DefaultMaxHeaderCount.
	MaxHeaderCount int
	// MaxURILength is the longest request target accepted in bytes; a longer
	// one is answered 414. If zero, DefaultMaxURILength.
	MaxURILength int
	// MaxBodyBytes is the largest request body accepted, in bytes: a larger
	// declared Content-Length is answered 413 at once, and reading past it
	// fails with *http.MaxBytesError (the balancer answers 413). If zero,
	// DefaultMaxBodyBytes (1 MiB). Routes that take uploads need a larger
	// value here or their own Gateway.
	MaxBodyBytes int64
	// WriteIdleTimeout bounds each write of a response: before every
	// WriteHeader, Write and Flush the connection's write deadline moves this
	// far ahead, so a client that stops reading is cut off while streaming
	// responses (SSE) that keep writing live on. If zero,
	// DefaultWriteIdleTimeout (30 s); negative disables it. Upgraded
	// (hijacked) connections are not affected: net/http clears deadlines.
	WriteIdleTimeout time.Duration
	// InsecureAllowUnderscoreHeaders lets header names containing '_' through.
	// By default such requests are answered 400, because proxies and
	// frameworks disagree on whether X_Forwarded_For means X-Forwarded-For.
	InsecureAllowUnderscoreHeaders bool
	// Route configures the route table New builds: canonical path handling,
	// the default host, body inspection limits and the error writer.
	Route route.Config
}

// Gateway is the assembled gateway: an http.Handler that runs the global
// chain (panic recovery, request ID, request hygiene, client IP, access log)
// in front of a route.Table. It is safe for concurrent use. Close it to stop
// the table's mirrored requests.
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
// no proxy. cfg.TrustedProxies, cfg.ForwardedHeader and cfg.Route are not
// used: res replaces the first two. It returns an error for a nil handler
// or a negative limit.
func NewHandler(h http.Handler, cfg Config, res *clientip.Resolver) (*Gateway, error) {
	if h == nil {
		return nil, errors.New("gatekit: nil handler")
	}
	if cfg.MaxHeaderCount < 0 || cfg.MaxURILength < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("gatekit: MaxHeaderCount, MaxURILength and MaxBodyBytes must not be negative")
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	writeIdle := cfg.WriteIdleTimeout
	if writeIdle == 0 {
		writeIdle = DefaultWriteIdleTimeout
	}
	newID := cfg.NewRequestID
	if newID == nil {
		newID = randomID
	}
	maxHeaders, maxURI := cfg.MaxHeaderCount, cfg.MaxURILength
	if maxHeaders == 0 {
		maxHeaders = DefaultMaxHeaderCount
	}
	if maxURI == 0 {
		maxURI = DefaultMaxURILength
	}
	log := cfg.Logger
	inner := h
	underscores := cfg.InsecureAllowUnderscoreHeaders
	g := &Gateway{}
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The chain works on its own copy of the request and header map:
		// the inbound request is never modified.
		hdr := r.Header.Clone()
		if hdr == nil {
			hdr = http.Header{}
		}
		consumeConnection(hdr)
		id := ""
		if vs := hdr[requestIDKey]; len(vs) == 1 && validRequestID(vs[0]) {
			id = vs[0]
		} else {
			id = newID()
			hdr[requestIDKey] = []string{id}
		}
		w.Header()[requestIDKey] = []string{id}
		rw := &responseWriter{ResponseWriter: w}
		if writeIdle > 0 {
			rw.idle, rw.dl = writeIdle, findWriteDeadliner(w)
		}
		ctx := clientip.WithRequest(context.WithValue(r.Context(), requestIDCtxKey{}, id), res, r)
		r = r.WithContext(ctx)
		r.Header = hdr
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				if log != nil {
					log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				}
				if rw.status == 0 {
					// Nothing was sent: drop whatever the handler had
					// set (cookies, Location) and answer 500.
					clear(rw.Header())
					rw.Header()[requestIDKey] = []string{id}
					problem.WriteDetails(rw, problem.Details{Status: http.StatusInternalServerError, Instance: id})
					p = nil
				}
			}
			if log != nil {
				status := rw.status
				if status == 0 {
					status = http.StatusOK
				}
				if errors.Is(r.Context().Err(), context.Canceled) {
					status = problem.StatusClientClosedRequest
				}
				log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", r.URL.Path),
					slog.Int("status", status), slog.Int64("bytes", rw.bytes), slog.Duration("duration", time.Since(start)),
					slog.String("client", clientip.FromRequest(r).String()), slog.String("request_id", id),
					slog.String("proto", r.Proto))
			}
			if p != nil {
				// The response was already started: abort the connection so
				// that a half-written response cannot look complete.
				panic(http.ErrAbortHandler)
			}
		}()
		if status, detail := checkRequest(r, maxHeaders, maxURI, underscores); status != 0 {
			problem.WriteDetails(rw, problem.Details{Status: status, Detail: detail, Instance: id})
			return
		}
		if r.ContentLength > maxBody {
			problem.WriteDetails(rw, problem.Details{Status: http.StatusRequestEntityTooLarge, Detail: "request body too large", Instance: id})
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(rw, r.Body, maxBody)
		}
		inner.ServeHTTP(rw, r)
	})
	return g, nil
}

// consumeConnection applies the client's Connection header to h: the
// headers it names are hop-by-hop, meant for the gateway, so they are
// removed, and so is Connection itself except for an Upgrade token.
// Without this, a client could name headers the gateway sets later (the
// request ID, headers set by route rewrites) and have the reverse proxy
// strip them on the way upstream.
func consumeConnection(h http.Header) {
	vs := h["Connection"]
	if len(vs) == 0 {
		return
	}
	upgrade := false
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "":
			case strings.EqualFold(tok, "upgrade"):
				upgrade = true
			default:
				h.Del(tok)
			}
		}
	}
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
	} else {
		delete(h, "Connection")
	}
}

// ServeHTTP serves r through the global chain and the routes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// checkRequest applies the request hygiene limits and returns a non-zero
// status with a fixed detail text for a request to reject.
func checkRequest(r *http.Request, maxHeaders, maxURI int, underscores bool) (int, string) {
	if len(r.RequestURI) > maxURI {
		return http.StatusRequestURITooLong, "request target too long"
	}
	n := 0
	for name, vs := range r.Header {
		n += len(vs)
		if !underscores && strings.IndexByte(name, '_') >= 0 {
			return http.StatusBadRequest, "header names must not contain underscores"
		}
	}
	if n > maxHeaders {
		return http.StatusRequestHeaderFieldsTooLarge, "too many header fields"
	}
	return 0, ""
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

type requestIDCtxKey struct{}

// requestIDKey is RequestIDHeader in canonical form, for direct map access.
const requestIDKey = "X-Request-Id"

// RequestID returns the request ID the Gateway assigned to the request
// carrying ctx, or "" outside a Gateway.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// validRequestID reports whether an incoming request ID may be kept: 1 to
// 128 characters from a conservative set, so that it is safe in logs and headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// responseWriter records the status and size of a response for the access
// log and for panic recovery. It keeps http.Flusher and exposes Unwrap for
// http.ResponseController (hijacking, deadlines).
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	idle   time.Duration  // write idle timeout, 0 for none
	dl     writeDeadliner // the connection's write deadline, or nil
}

// writeDeadliner is what http.ResponseController.SetWriteDeadline uses.
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// findWriteDeadliner walks w's Unwrap chain, as http.ResponseController
// does, to the writer that can set the connection's write deadline.
func findWriteDeadliner(w http.ResponseWriter) writeDeadliner {
	for range 16 {
		switch t := w.(type) {
		case writeDeadliner:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// extend pushes the write deadline idle into the future, so that a client
// that stops reading is cut off instead of holding the handler forever.
func (w *responseWriter) extend() {
	if w.dl != nil {
		_ = w.dl.SetWriteDeadline(time.Now().Add(w.idle))
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.extend()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.extend()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
