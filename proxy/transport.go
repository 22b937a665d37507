package proxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Transport defaults, documented on TransportConfig's fields. A dial to a
// live target on the same network takes milliseconds, so one that takes 2s
// has failed; the response header wait matches the route's default
// Timeout; 64 idle connections per target serve a busy gateway without
// re-dialling (Go's default of 2 churns connections under load).
const (
	defaultDialTimeout           = 2 * time.Second
	defaultTLSHandshakeTimeout   = 5 * time.Second
	defaultResponseHeaderTimeout = 15 * time.Second
	defaultIdleConnTimeout       = 60 * time.Second
	defaultMaxIdleConnsPerHost   = 64
)

// TransportConfig configures the upstream connections New sets up when
// Config.Transport is nil: the http.Transport, and the synchronous HTTP/1.1
// connections to plain-http targets, which follow DialTimeout,
// ResponseHeaderTimeout, IdleConnTimeout, MaxIdleConnsPerHost,
// DesyncQuarantine and MaxConnLifetime alike. The zero value of each field
// selects the default documented on it.
type TransportConfig struct {
	// DialTimeout bounds establishing a TCP connection to a target.
	// Zero means 2s.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake with an https target.
	// Zero means 5s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a target's response header
	// after the request was written; expiry is a 504. Zero means 15s.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes upstream connections idle this long; keep it
	// below the targets' own keep-alive timeout. Zero means 60s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the number of idle connections kept per
	// target; it should be about the expected concurrency per target (Go's
	// default of 2 churns connections under load). Zero means 64.
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps connections (idle, active and dialing) per
	// target; requests over the cap wait. Zero means no cap. Setting it
	// sends every request through the http.Transport, which queues
	// requests for a connection, instead of the proxy's synchronous
	// HTTP/1.1 connections.
	MaxConnsPerHost int
	// TLSClientConfig configures TLS to https targets; it is cloned. Nil
	// means the crypto/tls defaults with the system roots.
	TLSClientConfig *tls.Config
	// DesyncQuarantine is how long a target that sent bytes past the end
	// of a response gets a fresh connection for every request. Such a
	// connection is always discarded at once, before the bytes can reach
	// anyone (HTTP/1 targets, plain or TLS; HTTP/2 framing is checked by
	// the HTTP/2 client itself). Zero means 5m;
	// negative means no quarantine.
	DesyncQuarantine time.Duration
	// MaxConnLifetime retires an HTTP/1 upstream connection after its
	// first complete response past this age, so that targets named by
	// DNS are re-resolved at dial time (10m suits DNS-named targets: a
	// moved name is followed within that time at little dialling cost).
	// Zero means no limit.
	MaxConnLifetime time.Duration
}

func (c TransportConfig) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", c.DialTimeout},
		{"TLSHandshakeTimeout", c.TLSHandshakeTimeout},
		{"ResponseHeaderTimeout", c.ResponseHeaderTimeout},
		{"IdleConnTimeout", c.IdleConnTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("proxy: negative %s %v", d.name, d.v)
		}
	}
	if c.MaxIdleConnsPerHost < 0 || c.MaxConnsPerHost < 0 || c.MaxConnLifetime < 0 {
		return fmt.Errorf("proxy: negative connection limit")
	}
	return nil
}

// NewTransport returns the tuned http.Transport a Proxy uses by default:
// bounded dial, TLS and response-header waits, many idle connections per
// target, no proxy from the environment, no transparent compression (the
// proxy forwards bodies as they are), HTTP/2 attempted with https targets.
// It returns an error for negative settings.
func NewTransport(cfg TransportConfig) (*http.Transport, error) {
	tr, _, err := newGuardedTransport(cfg)
	return tr, err
}

// newGuardedTransport is NewTransport, also returning the desync guard that
// wraps its HTTP/1 connections.
func newGuardedTransport(cfg TransportConfig) (*http.Transport, *desyncGuard, error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	d := &net.Dialer{Timeout: cmp.Or(cfg.DialTimeout, defaultDialTimeout), KeepAlive: 30 * time.Second}
	idle := cmp.Or(cfg.MaxIdleConnsPerHost, defaultMaxIdleConnsPerHost)
	var tc *tls.Config
	if cfg.TLSClientConfig != nil {
		tc = cfg.TLSClientConfig.Clone()
	}
	g := newDesyncGuard(cfg.DesyncQuarantine)
	g.maxLife = cfg.MaxConnLifetime
	handshake := cmp.Or(cfg.TLSHandshakeTimeout, defaultTLSHandshakeTimeout)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return g.wrap(c, addr), nil
	}
	dialTLS := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := &tls.Config{}
		if tc != nil {
			conf = tc.Clone()
		}
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(addr)
		}
		if len(conf.NextProtos) == 0 {
			conf.NextProtos = []string{"h2", "http/1.1"}
		}
		hctx, cancel := context.WithTimeout(ctx, handshake)
		defer cancel()
		tlsConn := tls.Client(c, conf)
		if err := tlsConn.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, err
		}
		if tlsConn.ConnectionState().NegotiatedProtocol == "h2" {
			return tlsConn, nil // the HTTP/2 client frames its own streams
		}
		return g.wrap(tlsConn, addr), nil
	}
	return &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            dial,
		DialTLSContext:         dialTLS,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    cmp.Or(cfg.TLSHandshakeTimeout, defaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  cmp.Or(cfg.ResponseHeaderTimeout, defaultResponseHeaderTimeout),
		IdleConnTimeout:        cmp.Or(cfg.IdleConnTimeout, defaultIdleConnTimeout),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           0, // bounded per host instead
		MaxIdleConnsPerHost:    idle,
		MaxConnsPerHost:        cfg.MaxConnsPerHost,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 1 << 20,
	}, g, nil
}

// bufferPool is an httputil.BufferPool of buffers of one size. It is a
// bounded free list rather than a sync.Pool so that Put does not allocate.
type bufferPool struct {
	free chan []byte
	size int
}

// Body copy buffer sizes: 32 KiB by default, 64 KiB for bodies known to be
// larger (half the reads and writes per body, paid only by the responses
// that need it rather than by every stream in flight).
const (
	bufferSize      = 32 << 10
	largeBufferSize = 64 << 10
)

// newBufferPool returns a pool of buffers of size bytes keeping at most n
// free.
func newBufferPool(n, size int) *bufferPool {
	return &bufferPool{free: make(chan []byte, n), size: size}
}

// Get returns a buffer from the free list or a new one.
func (b *bufferPool) Get() []byte {
	select {
	case buf := <-b.free:
		return buf
	default:
		return make([]byte, b.size)
	}
}

// Put returns buf to the free list, or drops it when the list is full.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != b.size {
		return
	}
	select {
	case b.free <- buf[:b.size]:
	default:
	}
}
