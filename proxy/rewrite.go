package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"sync"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/header"
)

// clientSetHeaders are forwarding and URL-override headers a client could
// forge, which frameworks behind the gateway (Rack, IIS, Spring, Django)
// may believe. The outbound request never carries them: the gateway sets
// X-Forwarded-For, -Host, -Proto and X-Real-IP itself, and passes Forwarded
// and the X-Forwarded-For chain on only from trusted proxies. Every other
// X-Forwarded-* header is dropped too (see dropped).
var clientSetHeaders = [...]string{
	"X-Real-Ip",
	"True-Client-Ip",
	"Cf-Connecting-Ip",
	"X-Client-Ip",
	"X-Cluster-Client-Ip",
	"Fastly-Client-Ip",
	"X-Forwarded",
	"X-Forwarded-Port",
	"X-Forwarded-Prefix",
	"X-Forwarded-Server",
	"X-Original-Forwarded-For",
	"Forwarded-For",
	"Front-End-Https",
	"X-Url-Scheme",
	"X-Original-Url",
	"X-Rewrite-Url",
	"X-Original-Host",
	"X-Host",
	"X-Http-Method-Override",
	"X-Http-Method",
	"X-Method-Override",
}

// rewrite is the ReverseProxy.Rewrite function of protocol upgrades
// (WebSocket), which go through httputil.ReverseProxy: route to the picked
// target, drop what a client must not set (dropped) and set the
// forwarding headers owned by the gateway. ReverseProxy has already
// removed the hop-by-hop fields and set Connection and Upgrade again.
func (px *Proxy) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeFrom(pr.In.Context())
	base := *pr.Out.URL
	x.tunnelURL = &base
	px.route(pr, x.cur.target)
	h := pr.Out.Header
	// One pass over the (usually few) headers rather than a delete per
	// name in clientSetHeaders.
	for name := range h {
		if px.dropped(name) {
			delete(h, name)
		}
	}
	if !px.retry.idemKey {
		hideIdempotencyKey(h)
	}
	px.setForwarding(pr.In, h, new([4]string))
}

// outboundHeader returns the header of the request forwarded for in: in's
// fields except the hop-by-hop ones (and those its Connection header
// names), the h2c upgrade, and what a client must not set (dropped),
// sharing in's value slices rather than copying them; "Te: trailers" when
// the client accepts trailers; an empty User-Agent when the client sent
// none (no Go default); and the forwarding headers (setForwarding), their
// values kept in fwd.
func (px *Proxy) outboundHeader(in *http.Request, fwd *[4]string) http.Header {
	src := in.Header
	h, _ := outboundHeaders.Get().(http.Header)
	if h == nil {
		h = make(http.Header, len(src)+4)
	}
	conn := src["Connection"]
	for name, vals := range src {
		if !header.Forwarded(name, conn) || px.dropped(name) {
			continue
		}
		h[name] = vals
	}
	if te := src["Te"]; len(te) > 0 && header.HasToken(te, "trailers") {
		h["Te"] = teTrailers
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent
	}
	if !px.retry.idemKey {
		hideIdempotencyKey(h)
	}
	px.setForwarding(in, h, fwd)
	return h
}

// outboundHeaders holds the empty maps of outbound headers no one holds
// any more (see recycleOutbound), for outboundHeader to fill again.
var outboundHeaders sync.Pool

// recycleOutbound gives the header map of out, the outbound request of
// x, to outboundHeader for another request. exchange.recycle calls it for
// an exchange that nothing can hold any more (see settle). out's Header is
// nil afterwards. An exchange that went through a Transport is left
// untouched, out included, whoever calls: a Transport's goroutine may
// still read it (HTTP/2 does after the response). So is a map grown for
// an unusual number of fields.
func recycleOutbound(x *exchange, out *http.Request) {
	h := out.Header
	if !x.poolOnly() || len(h) > 16 {
		return
	}
	out.Header = nil
	clear(h)
	outboundHeaders.Put(h)
}

// Shared one-value header slices: never appended to in place (a header
// slice of capacity 1 is copied by append).
var (
	teTrailers  = []string{"trailers"}
	noUserAgent = []string{""}
)

// dropped reports whether a request header field is never forwarded:
// Forwarded and the X-Forwarded-* fields (the gateway sets its own),
// clientSetHeaders, names with '_' unless allowed (X_Forwarded_For, which
// some backends read as the hyphenated name), and HTTP2-Settings (an h2c
// upgrade is never forwarded: the client would speak HTTP/2 over a
// connection the gateway only inspects as HTTP/1, request smuggling).
func (px *Proxy) dropped(name string) bool {
	return name == "Forwarded" || name == "Http2-Settings" || clientSetHeader(name) ||
		!px.underscores && strings.IndexByte(name, '_') >= 0
}

// setForwarding sets the forwarding headers of h, the header of the
// request forwarded for in: X-Forwarded-Host, -Proto and -For and
// X-Real-Ip, and Forwarded and the client's X-Forwarded-For chain only
// when in comes from a trusted proxy (clientip.PeerTrusted). The values
// set are kept in vals.
func (px *Proxy) setForwarding(in *http.Request, h http.Header, vals *[4]string) {
	hdr := in.Header
	trusted := clientip.PeerTrusted(in)
	peer, perr := clientip.ParseAddr(in.RemoteAddr)
	client := clientip.FromRequest(in)

	xff := ""
	if trusted {
		xff = strings.Join(hdr.Values("X-Forwarded-For"), ", ")
		if v := hdr.Values("Forwarded"); len(v) > 0 {
			h["Forwarded"] = append([]string(nil), v...)
		}
	}
	realIP := ""
	if client.IsValid() {
		realIP = addrString(client, in.RemoteAddr)
	}
	switch {
	case trusted && perr == nil && xff != "":
		xff += ", " + peer.String()
	case trusted && perr == nil:
		xff = peer.String()
	case realIP != "":
		xff = realIP
	}
	fhost := in.Host
	if v := hdr.Get("X-Forwarded-Host"); trusted && v != "" {
		fhost = v
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if v := hdr.Get("X-Forwarded-Proto"); trusted && v != "" {
		proto = v
	}
	// The four header values share one backing array, vals (as h.Set
	// would store them, each a one-element slice of full capacity).
	vals[0], vals[1], vals[2], vals[3] = fhost, proto, xff, realIP
	h["X-Forwarded-Host"] = vals[0:1:1]
	h["X-Forwarded-Proto"] = vals[1:2:2]
	if xff != "" {
		h["X-Forwarded-For"] = vals[2:3:3]
	}
	if realIP != "" {
		h["X-Real-Ip"] = vals[3:4:4]
	}
}

// addrString returns a.String(), as a substring of remoteAddr (the usual
// case: the client is the socket peer, its address already spelt that way
// in "host:port" or "[host]:port") to avoid allocating a copy.
func addrString(a netip.Addr, remoteAddr string) string {
	var buf [64]byte
	b := a.AppendTo(buf[:0])
	n := len(b)
	switch {
	case len(remoteAddr) > n && remoteAddr[n] == ':' && remoteAddr[:n] == string(b):
		return remoteAddr[:n]
	case len(remoteAddr) > n+1 && remoteAddr[0] == '[' && remoteAddr[n+1] == ']' && remoteAddr[1:n+1] == string(b):
		return remoteAddr[1 : n+1]
	case remoteAddr == string(b):
		return remoteAddr
	}
	return string(b)
}

// clientSetHeader reports whether the canonical header name is one of
// clientSetHeaders or another X-Forwarded-* header (other than the bare
// X-Forwarded- prefix).
func clientSetHeader(name string) bool {
	if len(name) > len("X-Forwarded-") && strings.HasPrefix(name, "X-Forwarded-") {
		return true
	}
	if len(name) < len("X-Host") || len(name) > len("X-Original-Forwarded-For") {
		return false
	}
	switch name[0] {
	case 'X', 'T', 'C', 'F':
	default:
		return false
	}
	for _, n := range clientSetHeaders {
		if n == name {
			return true
		}
	}
	return false
}

// route addresses pr.Out to target t.
func (px *Proxy) route(pr *httputil.ProxyRequest, t *balancer.Target) {
	pr.SetURL(t.URL())
	if px.preserve {
		pr.Out.Host = pr.In.Host
	}
}

var _ http.Handler = (*Proxy)(nil)
