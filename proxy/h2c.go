package proxy

import (
	"cmp"
	"net"
	"net/http"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// newH2CTransport returns the http.Transport that carries requests to h2c
// targets (balancer.SchemeH2C): plaintext HTTP/2 with prior knowledge,
// never HTTP/1, with cfg's dial, response-header and idle bounds.
//
// Requests are multiplexed as streams over a target's connections. When
// every connection to a target carries as many streams as the target
// allows (its SETTINGS_MAX_CONCURRENT_STREAMS, 100 for gRPC servers by
// default), the Transport opens another connection rather than queueing
// (HTTP2Config.StrictMaxConcurrentRequests false), up to
// MaxConnsPerHost; idle connections beyond MaxIdleConnsPerHost close.
// A connection silent for 30s is pinged, and dropped when the ping is not
// answered in 15s, so that a target that vanished without closing its
// connections stops getting streams.
func newH2CTransport(cfg TransportConfig) *http.Transport {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	d := &net.Dialer{Timeout: cmp.Or(cfg.DialTimeout, defaultDialTimeout), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            d.DialContext,
		Protocols:              &protocols,
		ResponseHeaderTimeout:  cmp.Or(cfg.ResponseHeaderTimeout, defaultResponseHeaderTimeout),
		IdleConnTimeout:        cmp.Or(cfg.IdleConnTimeout, defaultIdleConnTimeout),
		MaxIdleConnsPerHost:    cmp.Or(cfg.MaxIdleConnsPerHost, defaultMaxIdleConnsPerHost),
		MaxConnsPerHost:        cfg.MaxConnsPerHost,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		HTTP2: &http.HTTP2Config{
			StrictMaxConcurrentRequests: false,
			SendPingTimeout:             30 * time.Second,
			PingTimeout:                 15 * time.Second,
		},
	}
}

// h2cRoundTripper sends requests for h2c:// URLs as http:// ones over an
// h2c-only Transport. It is registered on the proxy's default Transport
// for the h2c scheme, so that whatever sends a request to a target (the
// Transport, or anything that hands it non-http schemes) reaches it.
type h2cRoundTripper struct{ t *http.Transport }

// RoundTrip sends req to its h2c target.
func (rt h2cRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	out := *req
	u := *req.URL
	u.Scheme = "http"
	out.URL = &u
	resp, err := rt.t.RoundTrip(&out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// useH2C registers h2c targets' transport on tr, the proxy's default
// Transport.
func (px *Proxy) useH2C(tr *http.Transport, cfg TransportConfig) {
	px.h2c = newH2CTransport(cfg)
	tr.RegisterProtocol(balancer.SchemeH2C, h2cRoundTripper{px.h2c})
}
