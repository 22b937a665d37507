package gatekit

import (
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

// Defaults of ServerConfig, from the gateway's reliability bar.
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
	// streaming responses (SSE) work; handlers set per-write deadlines with
	// http.ResponseController.SetWriteDeadline.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. If zero,
	// DefaultIdleTimeout (120 s); it must exceed the idle timeout of any load
	// balancer in front of the gateway.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers; larger requests get
	// 431. If zero, DefaultMaxHeaderBytes (64 KiB).
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
	// Logger receives server errors (TLS handshake failures and the like) at
	// Debug and shutdown events at Info. If nil, the server is silent.
	Logger *slog.Logger
}

// Server is an http.Server with safe defaults and graceful shutdown driven by
// a context. A Server serves one listener at a time.
type Server struct {
	srv      *http.Server
	maxConns int
	shutdown time.Duration
	delay    time.Duration
	log      *slog.Logger
	draining atomic.Bool
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
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	ori := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true) // over TLS
	// Prior-knowledge h2c only when asked for; net/http never serves
	// the Upgrade: h2c path.
	protocols.SetUnencryptedHTTP2(cfg.UnencryptedHTTP2)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       or(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    ori(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes),
		TLSConfig:         cfg.TLSConfig,
		Protocols:         &protocols,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          ori(cfg.MaxConcurrentStreams, DefaultMaxStreams),
			MaxReceiveBufferPerStream:     64 << 10,
			MaxReceiveBufferPerConnection: 1 << 20,
		},
	}
	if cfg.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	}
	return &Server{
		srv:      srv,
		maxConns: ori(cfg.MaxConns, DefaultMaxConns),
		shutdown: or(cfg.ShutdownTimeout, DefaultShutdownTimeout),
		delay:    cfg.ShutdownDelay,
		log:      cfg.Logger,
	}, nil
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
// does not cover (RegisterOnShutdown, ConnState). Change it before Serve.
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
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, s.maxConns), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.srv.TLSConfig != nil {
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
	if s.delay > 0 {
		s.srv.SetKeepAlivesEnabled(false)
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdown)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("gatekit: shutdown cut in-flight requests: %w", err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// limitListener caps the connections accepted and not yet closed.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close, so that a full Accept returns
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
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
