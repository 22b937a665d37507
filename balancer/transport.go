package balancer

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Transport defaults, from reference/RELIABILITY.md §6.4.
const (
	DefaultDialTimeout           = 2 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 15 * time.Second
	DefaultIdleConnTimeout       = 60 * time.Second
	DefaultMaxIdleConnsPerHost   = 64
)

// TransportConfig configures the http.Transport that NewProxy builds when
// Config.Transport is nil. The zero value of each field selects the default
// documented on it.
type TransportConfig struct {
	// DialTimeout bounds establishing a TCP connection to a target.
	// Zero means DefaultDialTimeout (2s).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake with an https target.
	// Zero means DefaultTLSHandshakeTimeout (5s).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a target's response header
	// after the request was written; expiry is a 504. Zero means
	// DefaultResponseHeaderTimeout (15s).
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes upstream connections idle this long; keep it
	// below the targets' own keep-alive timeout. Zero means
	// DefaultIdleConnTimeout (60s).
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the number of idle connections kept per
	// target; it should be about the expected concurrency per target (Go's
	// default of 2 churns connections under load). Zero means
	// DefaultMaxIdleConnsPerHost (64).
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps connections (idle, active and dialing) per
	// target; requests over the cap wait. Zero means no cap.
	MaxConnsPerHost int
	// TLSClientConfig configures TLS to https targets; it is cloned. Nil
	// means the crypto/tls defaults with the system roots.
	TLSClientConfig *tls.Config
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
			return fmt.Errorf("balancer: negative %s %v", d.name, d.v)
		}
	}
	if c.MaxIdleConnsPerHost < 0 || c.MaxConnsPerHost < 0 {
		return fmt.Errorf("balancer: negative connection limit")
	}
	return nil
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// NewTransport returns the tuned http.Transport a Proxy uses by default:
// bounded dial, TLS and response-header waits, many idle connections per
// target, no proxy from the environment, no transparent compression (the
// proxy forwards bodies as they are), HTTP/2 attempted with https targets.
// It returns an error for negative settings.
func NewTransport(cfg TransportConfig) (*http.Transport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: orDuration(cfg.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	idle := cfg.MaxIdleConnsPerHost
	if idle == 0 {
		idle = DefaultMaxIdleConnsPerHost
	}
	var tc *tls.Config
	if cfg.TLSClientConfig != nil {
		tc = cfg.TLSClientConfig.Clone()
	}
	return &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            d.DialContext,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    orDuration(cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  orDuration(cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		IdleConnTimeout:        orDuration(cfg.IdleConnTimeout, DefaultIdleConnTimeout),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           0, // bounded per host instead
		MaxIdleConnsPerHost:    idle,
		MaxConnsPerHost:        cfg.MaxConnsPerHost,
		DisableCompression:     true,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 1 << 20,
	}, nil
}

// bufferPool is an httputil.BufferPool of 32 KiB buffers. It is a bounded
// free list rather than a sync.Pool so that Put does not allocate.
type bufferPool chan []byte

const bufferSize = 32 << 10

func newBufferPool(n int) bufferPool { return make(bufferPool, n) }

// Get returns a buffer from the free list or a new one.
func (b bufferPool) Get() []byte {
	select {
	case buf := <-b:
		return buf
	default:
		return make([]byte, bufferSize)
	}
}

// Put returns buf to the free list, or drops it when the list is full.
func (b bufferPool) Put(buf []byte) {
	if cap(buf) != bufferSize {
		return
	}
	select {
	case b <- buf[:bufferSize]:
	default:
	}
}
