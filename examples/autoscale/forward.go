package main

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// forwarder proxies each request to the target a balancer policy picks
// and reports the outcome back to the policy. It is the smallest proxy
// the demo needs, on httputil.ReverseProxy.
type forwarder struct {
	policy balancer.Policy
	rp     *httputil.ReverseProxy
	tr     *http.Transport
}

type targetKey struct{}

func newForwarder(p balancer.Policy) *forwarder {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	return &forwarder{policy: p, tr: tr, rp: &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*balancer.Target).URL())
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}}
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, done, err := f.policy.Pick(r.Context(), "")
	if err != nil {
		http.Error(w, "no backend available", http.StatusServiceUnavailable)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	f.rp.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
	done(balancer.Result{Status: sw.status, Latency: time.Since(start), Canceled: r.Context().Err() != nil})
}

func (f *forwarder) close() { f.tr.CloseIdleConnections() }

// statusWriter records the status a response was sent with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err) // only called with "http://" + a listener's address
	}
	return u
}
