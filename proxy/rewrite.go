package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
)

// clientSetHeaders are forwarding and URL-override headers a client could
// forge, which frameworks behind the gateway (Rack, IIS, Spring, Django)
// may believe. The outbound request never carries them: the gateway sets
// X-Forwarded-For, -Host, -Proto and X-Real-IP itself, and passes Forwarded
// and the X-Forwarded-For chain on only from trusted proxies. Every other
// X-Forwarded-* header is dropped too (see rewrite). (ReverseProxy with
// Rewrite already strips Forwarded and X-Forwarded-For, -Host and -Proto.)
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

// rewrite is the ReverseProxy.Rewrite function: route to the picked target
// and set forwarding headers owned by the gateway.
func (px *Proxy) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeFrom(pr.In.Context())
	x.baseURL = *pr.Out.URL
	px.route(pr, x.cur.target)
	h := pr.Out.Header
	if !px.retry.idemKey {
		hideIdempotencyKey(h)
	}
	// One pass over the (usually few) headers rather than a delete per
	// name in clientSetHeaders.
	for name := range h {
		if clientSetHeader(name) || !px.underscores && strings.IndexByte(name, '_') >= 0 {
			// X-Forwarded-Scheme, -Ssl, -Protocol, -Uri, ...: never from
			// clients, nor their underscore twins (X_Forwarded_For),
			// which some backends read as the hyphenated name.
			delete(h, name)
		}
	}
	// Never forward an h2c upgrade: the client would speak HTTP/2 over a
	// connection the gateway only inspects as HTTP/1 (request smuggling).
	if headerHasToken(h["Upgrade"], "h2c") {
		delete(h, "Upgrade")
		delete(h, "Connection")
	}
	delete(h, "Http2-Settings")
	if problem.IsGRPC(pr.In) {
		setGRPCTimeout(pr.Out)
	}

	in := pr.In.Header
	trusted := clientip.PeerTrusted(pr.In)
	peer, perr := clientip.ParseAddr(pr.In.RemoteAddr)
	client := clientip.FromRequest(pr.In)

	xff := ""
	if trusted {
		xff = strings.Join(in.Values("X-Forwarded-For"), ", ")
		if v := in.Values("Forwarded"); len(v) > 0 {
			h["Forwarded"] = append([]string(nil), v...)
		}
	}
	realIP := ""
	if client.IsValid() {
		realIP = addrString(client, pr.In.RemoteAddr)
	}
	switch {
	case trusted && perr == nil && xff != "":
		xff += ", " + peer.String()
	case trusted && perr == nil:
		xff = peer.String()
	case realIP != "":
		xff = realIP
	}
	fhost := pr.In.Host
	if v := in.Get("X-Forwarded-Host"); trusted && v != "" {
		fhost = v
	}
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	if v := in.Get("X-Forwarded-Proto"); trusted && v != "" {
		proto = v
	}
	// The four header values share one backing array (as h.Set would
	// store them, each a one-element slice of full capacity).
	vals := make([]string, 4)
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

// headerHasToken reports whether a comma-separated header contains token,
// case-insensitively.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

var _ http.Handler = (*Proxy)(nil)
