package gatekit

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ServerConfig.
const (
	// DefaultReadHeaderTimeout bounds reading request headers (Slowloris).
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 60 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes caps the request line and headers (431 above).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxConns caps the connections served at once per listener.
	DefaultMaxConns = 10000
	// DefaultShutdownTimeout is how long in-flight requests may take to
	// finish after shutdown begins.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultMaxStreams caps concurrent HTTP/2 streams per connection.
	DefaultMaxStreams = 100
	// DefaultWriteIdleTimeout is how long one write of a response may block
	// on a client that does not read.
	DefaultWriteIdleTimeout = 30 * time.Second
	// DefaultBodyReadIdleTimeout is how long one read of a request body may
	// wait for the client to send more.
	DefaultBodyReadIdleTimeout = 10 * time.Second
	// DefaultBufferBodyBytes is the largest declared request body read
	// completely before the handler runs.
	DefaultBufferBodyBytes = 64 << 10
)

// ServerConfig configures a Server. The zero value of each field selects the
// safe default documented on it; negative durations are errors.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading the request line and headers
	// (Slowloris). If zero, DefaultReadHeaderTimeout (5 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. If zero,
	// DefaultReadTimeout (60 s); handlers of streaming uploads extend it with
	// http.ResponseController.SetReadDeadline.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. If zero, there is none, so that
	// streaming responses (SSE) work; WriteIdleTimeout bounds each write.
	WriteTimeout time.Duration
	// WriteIdleTimeout bounds each write of a response: at every
	// WriteHeader, Write and Flush the connection's write deadline lies
	// between 7/8 of this and this far ahead (it moves once an eighth has
	// passed, since each move updates a runtime timer), so a client that
	// stops reading is cut off while streaming responses (SSE) that keep
	// writing live on. If zero,
	// DefaultWriteIdleTimeout (30 s); negative disables it. Upgraded
	// (hijacked) connections are not affected: net/http clears deadlines.
	WriteIdleTimeout time.Duration
	// BodyReadIdleTimeout bounds each read of a request body: a client that
	// sends nothing for this long is answered 408 (with Connection: close)
	// instead of the handler's error response, within ReadTimeout. If zero,
	// DefaultBodyReadIdleTimeout (10 s); negative disables it. gRPC calls
	// (HTTP/2, Content-Type application/grpc) are exempt: a client stream
	// may idle between messages for as long as the application likes.
	BodyReadIdleTimeout time.Duration
	// BufferBodyBytes is the largest declared request body (Content-Length)
	// that is read completely, under BodyReadIdleTimeout, before the handler
	// runs, so that a body that never completes never makes the gateway
	// contact a backend: the client gets 408 and the handler is not called.
	// Larger and chunked bodies stream to the handler, and requests with
	// Expect: 100-continue are never buffered. If zero,
	// DefaultBufferBodyBytes (64 KiB); negative disables buffering.
	BufferBodyBytes int64
	// InsecureAllowAmbiguousFraming lets through plaintext HTTP/1 requests
	// whose framing other HTTP implementations may read differently (see
	// Server). By default they are answered 400 with Connection: close and
	// nothing after them on the connection is read, because a hop in front
	// that frames such a request differently would let a second, smuggled
	// request through.
	InsecureAllowAmbiguousFraming bool
	// IdleTimeout closes keep-alive connections idle this long. If zero,
	// DefaultIdleTimeout (120 s); it must exceed the idle timeout of any load
	// balancer in front of the gateway. On the Server's own HTTP/1 loop a
	// busy connection moves its idle deadline at most once every 64th of
	// it, so the wait after a response is between 63/64 of IdleTimeout and
	// all of it.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers; larger requests get
	// 431 problem+json and Connection: close. If zero, DefaultMaxHeaderBytes
	// (64 KiB). Requests over twice this size are refused by net/http itself,
	// with a 431 that is problem+json on plaintext connections too and
	// net/http's text/plain on TLS ones.
	MaxHeaderBytes int
	// MaxConns caps the connections served at once per listener; further
	// connections wait in the kernel's accept queue. If zero, DefaultMaxConns.
	MaxConns int
	// MaxConcurrentStreams caps concurrent HTTP/2 streams per connection.
	// If zero, DefaultMaxStreams (100).
	MaxConcurrentStreams int
	// ShutdownTimeout is how long in-flight requests may take to finish once
	// the context given to Serve is cancelled; then connections are closed.
	// If zero, DefaultShutdownTimeout (30 s).
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long the server keeps serving after the context
	// given to Serve is cancelled, with readiness already reporting 503 and
	// keep-alives off, so that load balancers in front stop sending before
	// the listener closes. If zero, the listener closes at once.
	ShutdownDelay time.Duration
	// TLSConfig, if set, makes Serve terminate TLS (with HTTP/2) on the listener.
	TLSConfig *tls.Config
	// UnencryptedHTTP2 also accepts plaintext HTTP/2 with prior knowledge
	// (h2c, as gRPC clients without TLS speak it) on a listener without
	// TLSConfig, beside HTTP/1. Enable it only behind a trusted L4 load
	// balancer or a mesh sidecar: the traffic is unencrypted. The
	// "Upgrade: h2c" path stays refused either way.
	UnencryptedHTTP2 bool
	// NetHTTPServer serves plaintext HTTP/1 with net/http's server, as
	// TLS and h2c connections always are. By default a Server without
	// TLSConfig and UnencryptedHTTP2 serves them itself: the same
	// behaviour towards handlers and clients, with less work per request
	// (see Server).
	NetHTTPServer bool
	// Logger receives server errors (TLS handshake failures and the like) at
	// Debug, and requests the Server refuses before the handler sees them
	// (ambiguous framing, oversized headers, PRI, stalled bodies) and
	// shutdown events at Info. If nil, the server is silent.
	Logger *slog.Logger
}

// Server is an http.Server with safe defaults and graceful shutdown driven by
// a context. A Server serves one listener at a time.
//
// Plaintext HTTP/1 connections (no TLSConfig, no UnencryptedHTTP2) are
// served by the Server's own connection loop unless NetHTTPServer is set:
// it reads requests as http.ReadRequest does and behaves as net/http's server
// does towards handlers and clients (timeouts, limits, 100-continue,
// chunked and close-delimited responses, trailers, Content-Type sniffing,
// hijacking, http.ResponseController deadlines, graceful shutdown), for
// less work per request. One difference: a client that goes away during a
// request cancels the request's context only once the request has run
// 100 ms (net/http's server watches every request from its start, at the
// cost of a goroutine and a read per request).
//
// Beyond http.Server's own limits it bounds every write (WriteIdleTimeout)
// and every read of a request body (BodyReadIdleTimeout, 408), never sends
// the log-only status 499 (the connection is closed instead), and refuses
// requests that other HTTP implementations may frame differently, with 400
// and Connection: close: on plaintext HTTP/1 connections, Content-Length
// together with Transfer-Encoding, Transfer-Encoding on HTTP/1.0, and
// folded (obs-fold) header lines (net/http removes the
// evidence before a handler runs, so the Server reads it from the
// connection's bytes); on every connection, the PRI method (the HTTP/2
// preface over HTTP/1) and the asterisk-form target outside OPTIONS. The
// error responses net/http writes itself when it cannot read a request
// (400, 431, 501, 505) are rewritten as problem+json on plaintext
// connections. On
// TLS connections the framing of HTTP/1 requests is net/http's alone:
// Transfer-Encoding wins over Content-Length, which is removed, and
// Transfer-Encoding on HTTP/1.0 is ignored.
type Server struct {
	srv       *http.Server
	h1        *http1Server // plaintext HTTP/1, unless net/http serves it
	maxConns  int
	shutdown  time.Duration
	delay     time.Duration
	log       *slog.Logger
	draining  atomic.Bool
	hookOnce  sync.Once
	allowAmbi bool
	maxLine   int // the longest line the framing check follows
}

// NewServer returns a Server for h. It returns an error for a negative
// setting; it never starts listening.
func NewServer(h http.Handler, cfg ServerConfig) (*Server, error) {
	if h == nil {
		return nil, errors.New("gatekit: NewServer: nil handler")
	}
	for _, d := range []time.Duration{cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, cfg.ShutdownTimeout, cfg.ShutdownDelay} {
		if d < 0 {
			return nil, fmt.Errorf("gatekit: NewServer: negative timeout %v", d)
		}
	}
	if cfg.MaxHeaderBytes < 0 || cfg.MaxConns < 0 || cfg.MaxConcurrentStreams < 0 {
		return nil, errors.New("gatekit: NewServer: negative limit")
	}
	readTimeout := cmp.Or(cfg.ReadTimeout, DefaultReadTimeout)
	maxHeader := cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	sh := &serverHandler{
		maxHeader:   maxHeader,
		next:        h,
		writeIdle:   cmp.Or(cfg.WriteIdleTimeout, DefaultWriteIdleTimeout),
		bodyIdle:    cmp.Or(cfg.BodyReadIdleTimeout, DefaultBodyReadIdleTimeout),
		bufferBody:  cmp.Or(cfg.BufferBodyBytes, DefaultBufferBodyBytes),
		readTimeout: readTimeout,
		log:         cfg.Logger,
		clock:       time.Now(),
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true) // over TLS
	// Prior-knowledge h2c only when asked for; net/http never serves
	// the Upgrade: h2c path.
	protocols.SetUnencryptedHTTP2(cfg.UnencryptedHTTP2)
	srv := &http.Server{
		Handler:           sh,
		ReadHeaderTimeout: cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       readTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout),
		// net/http reads up to twice the limit, so that serverHandler
		// answers most oversized requests with problem+json itself.
		MaxHeaderBytes: 2 * maxHeader,
		ConnContext:    withConn,
		// serverHandler answers OPTIONS * itself: when net/http did, the
		// request was not counted as served and the framing verdict of a
		// later request on the connection went unnoticed.
		DisableGeneralOptionsHandler: true,
		TLSConfig:                    cfg.TLSConfig,
		Protocols:                    &protocols,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          cmp.Or(cfg.MaxConcurrentStreams, DefaultMaxStreams),
			MaxReceiveBufferPerStream:     64 << 10,
			MaxReceiveBufferPerConnection: 1 << 20,
		},
	}
	if cfg.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	}
	s := &Server{
		srv:       srv,
		maxConns:  cmp.Or(cfg.MaxConns, DefaultMaxConns),
		shutdown:  cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout),
		delay:     cfg.ShutdownDelay,
		log:       cfg.Logger,
		allowAmbi: cfg.InsecureAllowAmbiguousFraming,
		maxLine:   srv.MaxHeaderBytes + 4096, // what net/http reads of a head
	}
	if cfg.TLSConfig == nil && !cfg.UnencryptedHTTP2 && !cfg.NetHTTPServer {
		s.h1 = &http1Server{srv: srv, draining: &s.draining, goneDelay: defaultGoneDelay}
	}
	return s, nil
}

// Ready reports whether the server is serving and not shutting down.
func (s *Server) Ready() bool { return !s.draining.Load() }

// ReadinessHandler answers 200 while the server is ready and 503 (with
// Retry-After) once shutdown has begun; mount it where the load balancer in
// front probes readiness, such as /readyz.
func (s *Server) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.Ready() {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

// HTTPServer returns the underlying http.Server, for settings ServerConfig
// does not cover (RegisterOnShutdown, ConnState, ConnContext, BaseContext,
// ErrorLog, which the Server's own HTTP/1 loop honours too; its
// SetKeepAlivesEnabled does not reach that loop, whose connections close
// once the Server's shutdown begins). Change it before Serve; a ConnState
// hook set here is kept, and called after the Server's own.
func (s *Server) HTTPServer() *http.Server { return s.srv }

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is cancelled, then shuts down
// gracefully: readiness turns to 503 and, after ShutdownDelay, the listener
// closes (new connections are refused),
// idle connections close, and in-flight requests have ShutdownTimeout to
// finish before their connections are closed. It returns nil after a
// graceful shutdown, context.DeadlineExceeded-wrapping error when requests
// had to be cut, or the error that stopped the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.hookOnce.Do(func() {
		// A connection turns idle once a response has been sent in full:
		// from then until the next request reaches the handler, a write
		// can only be one of net/http's own error responses. A hijacked
		// connection carries a tunnel, not requests to follow.
		user := s.srv.ConnState
		s.srv.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateIdle || st == http.StateHijacked {
				if fc := serverConnOf(c); fc != nil {
					fc.changed(st)
				}
			}
			if user != nil {
				user(c, st)
			}
		}
	})
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, s.maxConns), done: make(chan struct{}), allowAmbi: s.allowAmbi, maxLine: s.maxLine, wantHosts: s.h1 != nil}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.h1 != nil {
			s.h1.handler = s.srv.Handler
			err = s.h1.serve(ln)
		} else if s.srv.TLSConfig != nil {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	if s.log != nil {
		s.log.Info("shutting down", "delay", s.delay, "timeout", s.shutdown)
	}
	var serveErr error
	stopped := false // serveErr is in
	if s.delay > 0 {
		s.srv.SetKeepAlivesEnabled(false)
		if s.h1 != nil {
			s.h1.closeIdle() // the others close after their response
		}
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case serveErr = <-errc:
			// The listener failed during the delay: the connections
			// open now are still drained below.
			t.Stop()
			stopped = true
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	err := s.srv.Shutdown(sctx) // runs the RegisterOnShutdown hooks
	if s.h1 != nil && err == nil {
		err = s.h1.shutdown(sctx)
	}
	if err != nil {
		_ = s.srv.Close()
		if s.h1 != nil {
			s.h1.close()
		}
		err = fmt.Errorf("gatekit: shutdown cut in-flight requests: %w", err)
	}
	if !stopped {
		serveErr = <-errc
	}
	if serr := serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if s.log != nil {
		if err != nil {
			s.log.Info("shutdown complete", "error", err)
		} else {
			s.log.Info("shutdown complete")
		}
	}
	return err
}

// limitListener caps the connections accepted and not yet closed.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close, so that a full Accept returns
	closeOnce sync.Once
	allowAmbi bool // passed to each serverConn
	maxLine   int  // passed to each serverConn's tracker
	wantHosts bool // passed to each serverConn's tracker
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	default:
		// At MaxConns: wait for a connection to end, and notice a
		// listener its owner closed meanwhile (Serve returns then).
		if err := l.waitSlot(); err != nil {
			return nil, err
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: &serverConn{Conn: c, allow: l.allowAmbi, tracker: framingTracker{limit: l.maxLine, wantHosts: l.wantHosts}}, release: func() { <-l.sem }}, nil
}

// listenerPoll is how often a listener at MaxConns is checked for a close
// by its owner.
const listenerPoll = 250 * time.Millisecond

// waitSlot waits for a free connection slot; it returns net.ErrClosed once
// the listener is closed, by Close or by its owner.
func (l *limitListener) waitSlot() error {
	t := time.NewTicker(listenerPoll)
	defer t.Stop()
	for {
		select {
		case l.sem <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-t.C:
			if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
				if err := d.SetDeadline(time.Time{}); errors.Is(err, net.ErrClosed) {
					return net.ErrClosed
				}
			}
		}
	}
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
