package proxy

import (
	"net/http"

	"github.com/gatekit/gatekit/balancer"
)

// roundTripperFor chooses, per target and request, what sends req to t:
// the synchronous HTTP/1.1 pool for plain-http targets and the requests it
// handles (h1Pool.handles), and the proxy's http.Transport for everything
// else (https targets, which may speak HTTP/2; upgrades; Expect:
// 100-continue; large or streamed request bodies), and for every request
// when Config.Transport is set.
func (px *Proxy) roundTripperFor(t *balancer.Target, req *http.Request) http.RoundTripper {
	_ = t // the choice depends on the request's URL, which t set
	if px.h1 != nil && px.h1.handles(req) {
		return px.h1
	}
	return px.transport
}

// send sends req, x's current attempt, with the RoundTripper
// roundTripperFor chooses. The pool calls x's hooks itself; for any other,
// x's ClientTrace is put into its contexts first.
func (px *Proxy) send(x *exchange, req *http.Request) (*http.Response, error) {
	rt := px.roundTripperFor(x.cur.target, req)
	if _, pool := rt.(*h1Pool); !pool {
		x.traceOn()
	}
	return rt.RoundTrip(req)
}
