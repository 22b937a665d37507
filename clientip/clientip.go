// Package clientip finds the address of the client behind a request, trusting
// forwarding headers only from configured proxies.
//
// By default the client is the socket peer (http.Request.RemoteAddr) and every
// X-Forwarded-For or Forwarded header is ignored, because any client can send
// one. With trusted proxy prefixes configured, the header is walked from the
// right, skipping hops that are trusted proxies; the first untrusted hop is the
// client. A client can therefore only choose entries left of its own address,
// and those are never read.
package clientip

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Header names a forwarding header the Resolver may read.
const (
	// XForwardedFor is the de facto standard X-Forwarded-For header.
	XForwardedFor = "X-Forwarded-For"
	// Forwarded is the RFC 7239 Forwarded header; its "for" parameters are read.
	Forwarded = "Forwarded"
)

// Config configures a Resolver. The zero value trusts no proxy: the client
// is always the socket peer.
type Config struct {
	// TrustedProxies are the prefixes of proxies whose forwarding headers are
	// believed. If empty, forwarding headers are ignored. Addresses are
	// compared after unmapping IPv4-mapped IPv6 addresses and dropping zones.
	TrustedProxies []netip.Prefix
	// Header is the forwarding header to read from trusted proxies:
	// XForwardedFor (the default when empty) or Forwarded. New refuses it
	// without TrustedProxies.
	Header string
}

// Resolver computes client addresses. It is immutable after New and safe
// for concurrent use by multiple goroutines.
type Resolver struct {
	trusted []netip.Prefix
	header  string
}

// ErrBadRemoteAddr is returned by ParseAddr for a RemoteAddr that is not an IP address.
var ErrBadRemoteAddr = errors.New("clientip: remote address is not an IP address")

// New validates cfg and returns a Resolver. It returns an error for an
// invalid prefix, an unknown Header, or a Header without TrustedProxies.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{header: cfg.Header}
	switch cfg.Header {
	case "":
		r.header = XForwardedFor
	case XForwardedFor, Forwarded:
	default:
		return nil, fmt.Errorf("clientip: unsupported header %q (want %q or %q)", cfg.Header, XForwardedFor, Forwarded)
	}
	if cfg.Header != "" && len(cfg.TrustedProxies) == 0 {
		return nil, fmt.Errorf("clientip: Header %q without TrustedProxies would never be read", cfg.Header)
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("clientip: invalid trusted proxy prefix %v", p)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusted reports whether a is inside one of the trusted proxy prefixes.
func (r *Resolver) Trusted(a netip.Addr) bool {
	if r == nil || len(r.trusted) == 0 || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns the client address for a request from remoteAddr (in
// http.Request.RemoteAddr form) carrying header h. When the peer is not a
// trusted proxy, the result is the peer. When it is, the configured header
// is walked from the right and the first hop that is not a trusted proxy is
// returned; an unparsable hop stops the walk at the last trusted hop. It
// returns ErrBadRemoteAddr when remoteAddr is not an IP address.
func (r *Resolver) Resolve(remoteAddr string, h http.Header) (netip.Addr, error) {
	peer, err := ParseAddr(remoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	if !r.Trusted(peer) {
		return peer, nil
	}
	values := h.Values(r.header)
	client := peer
	// Walk header lines from the last, each line from its last element.
	for i := len(values) - 1; i >= 0; i-- {
		line := values[i]
		if strings.TrimSpace(line) == "" {
			return client, nil // an empty line is malformed: stop here
		}
		for {
			j := strings.LastIndexByte(line, ',')
			elem := line[j+1:]
			var a netip.Addr
			var ok bool
			if r.header == Forwarded {
				a, ok = parseForwardedElement(elem)
			} else {
				a, ok = parseHop(strings.TrimSpace(elem))
			}
			if !ok {
				return client, nil
			}
			client = a
			if !r.Trusted(a) {
				return a, nil
			}
			if j < 0 {
				break
			}
			line = line[:j]
		}
	}
	return client, nil
}

// ParseAddr parses an http.Request.RemoteAddr ("ip:port", "[ipv6%zone]:port"
// or a bare IP) into an address, unmapping IPv4-mapped IPv6 addresses.
func ParseAddr(remoteAddr string) (netip.Addr, error) {
	if a, ok := parseHop(remoteAddr); ok {
		return a, nil
	}
	return netip.Addr{}, ErrBadRemoteAddr
}

// parseHop parses one hop: a bare IP, "ip:port" or "[ipv6]:port".
func parseHop(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	// Only forms with a port go through ParseAddrPort, whose error for a
	// bare address would cost an allocation on every hop.
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap(), true
		}
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseForwardedElement returns the address in the "for" parameter of one
// RFC 7239 forwarded-element. Obfuscated identifiers and "unknown" are not
// addresses and report false.
func parseForwardedElement(elem string) (netip.Addr, bool) {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return parseHop(v)
	}
	return netip.Addr{}, false
}

// Aggregate returns the address a limiter or hash should key a client by:
// IPv4 addresses as they are, IPv6 addresses masked to their /64 (one
// subscriber usually holds a whole /64), zones dropped.
func Aggregate(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

type ctxKey struct{}

type info struct {
	client  netip.Addr
	trusted bool // the socket peer is a trusted proxy
}

// NewContext returns a copy of ctx carrying client as the client address.
func NewContext(ctx context.Context, client netip.Addr) context.Context {
	return context.WithValue(ctx, ctxKey{}, info{client: client})
}

// FromContext returns the client address stored by Middleware or NewContext.
func FromContext(ctx context.Context) (netip.Addr, bool) {
	in, ok := ctx.Value(ctxKey{}).(info)
	return in.client, ok && in.client.IsValid()
}

// FromRequest returns the client address of r: the one stored by
// Middleware, or, when the middleware did not run, the socket peer from
// r.RemoteAddr. It returns the zero Addr when neither is available.
func FromRequest(r *http.Request) netip.Addr {
	if a, ok := FromContext(r.Context()); ok {
		return a
	}
	a, _ := ParseAddr(r.RemoteAddr)
	return a
}

// PeerTrusted reports whether Middleware found the socket peer of r to be a
// trusted proxy, whose forwarding headers may be passed on. It is false when
// the middleware did not run.
func PeerTrusted(r *http.Request) bool {
	in, _ := r.Context().Value(ctxKey{}).(info)
	return in.trusted
}

// WithRequest returns a copy of ctx carrying the client address of r,
// resolved with res (nil trusts no proxy), for FromRequest and PeerTrusted.
// Middleware calls it; a handler that already copies its request context
// can call it to avoid a second copy. When r.RemoteAddr is not an IP address,
// ctx is returned unchanged.
func WithRequest(ctx context.Context, res *Resolver, r *http.Request) context.Context {
	peer, err := ParseAddr(r.RemoteAddr)
	if err != nil {
		return ctx
	}
	in := info{client: peer, trusted: res.Trusted(peer)}
	if in.trusted {
		in.client, _ = res.Resolve(r.RemoteAddr, r.Header)
	}
	return context.WithValue(ctx, ctxKey{}, in)
}

// Middleware resolves the client address of each request once, with res,
// and stores it in the request context for FromRequest. A nil res trusts no
// proxy. A request whose RemoteAddr is not an IP address (a Unix socket, a
// test) passes through with no address stored.
func Middleware(res *Resolver) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := WithRequest(r.Context(), res, r)
			if ctx != r.Context() {
				r = r.WithContext(ctx)
			}
			next.ServeHTTP(w, r)
		})
	}
}
