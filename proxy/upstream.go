package proxy

import (
	"context"
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

// send sends req, x's current attempt, in ctx, the attempt's context,
// with the RoundTripper roundTripperFor chooses. The pool takes ctx apart
// from req and calls x's hooks itself. Any other gets req with ctx as its
// context (a copy, unless req has it already), once x's ClientTrace is in
// x's contexts.
func (px *Proxy) send(x *exchange, req *http.Request, ctx context.Context) (*http.Response, error) {
	rt := px.roundTripperFor(x.cur.target, req)
	if p, ok := rt.(*h1Pool); ok {
		return p.send(ctx, req)
	}
	x.traceOn()
	if req.Context() != ctx {
		req = req.WithContext(ctx)
	}
	return rt.RoundTrip(req)
}
