package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"sync/atomic"
	"testing"

	"github.com/gatekit/gatekit/balancer"
)

func TestRoundTripperForChoosesPerTargetAndRequest(t *testing.T) {
	if !probeSupported {
		t.Skip("no synchronous pool on this platform")
	}
	custom := &http.Transport{}
	for _, tc := range []struct {
		name    string
		cfg     Config
		target  string
		upgrade bool
		want    string // "pool", "transport" or "custom"
	}{
		{"plain http", Config{}, "http://127.0.0.1:1", false, "pool"},
		{"https", Config{}, "https://127.0.0.1:1", false, "transport"},
		{"upgrade", Config{}, "http://127.0.0.1:1", true, "transport"},
		{"connection cap", Config{TransportConfig: TransportConfig{MaxConnsPerHost: 4}}, "http://127.0.0.1:1", false, "transport"},
		{"Transport from Config", Config{Transport: custom}, "http://127.0.0.1:1", false, "custom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := poolOf(t, tc.target)
			px := newTestProxy(t, balancer.NewRoundRobin(pool), tc.cfg)
			req := httptest.NewRequest("GET", tc.target+"/", nil)
			if tc.upgrade {
				req.Header.Set("Upgrade", "websocket")
			}
			got := "transport"
			switch px.roundTripperFor(pool.Targets()[0], req) {
			case px.h1:
				got = "pool"
			case custom:
				got = "custom"
			}
			if got != tc.want {
				t.Fatalf("round tripper %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSendHooksAcrossTransportAndPool: a request answered 503 by an https
// target (http.Transport) and retried on a plain-http one (the pool) that
// sends 103 Early Hints reports each connection and the hint once to a
// trace already on the request, and the hint reaches the client.
func TestSendHooksAcrossTransportAndPool(t *testing.T) {
	if !probeSupported {
		t.Skip("no synchronous pool on this platform")
	}
	busy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	pool := poolOf(t, busy.URL, earlyHintsBackend(t, "Link: </a.css>\r\n"))
	px := newTestProxy(t, &firstThen{pool: pool}, Config{Retry: fastRetry(RetryConfig{}), TransportConfig: trusting(busy)})
	var conns, hints atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
			GotConn:        func(httptrace.GotConnInfo) { conns.Add(1) },
			Got1xxResponse: func(int, textproto.MIMEHeader) error { hints.Add(1); return nil },
		}))
		px.ServeHTTP(w, r)
	}))
	defer front.Close()
	var relayed []int
	req, _ := http.NewRequest("GET", front.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error { relayed = append(relayed, code); return nil },
	}))
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want the retry's 200 ok", resp.StatusCode, body)
	}
	if conns.Load() != 2 || hints.Load() != 1 || len(relayed) != 1 || relayed[0] != http.StatusEarlyHints {
		t.Fatalf("the request's trace saw %d connections and %d 1xx, the client got %v: want 2, 1 and [103]", conns.Load(), hints.Load(), relayed)
	}
}

// reSendingTransport reports two connections for every request to the
// trace on its context, as http.Transport does when it sends a request
// again after a reused connection failed, and then fails.
type reSendingTransport struct{}

func (reSendingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.GotConn != nil {
		tr.GotConn(httptrace.GotConnInfo{Reused: true})
		tr.GotConn(httptrace.GotConnInfo{})
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, errors.New("no target")
}

// TestSendTracesAnyOtherRoundTripper: a RoundTripper other than the pool
// (here Config.Transport) sees the exchange's hooks, on the proxy's own
// forwarding path and on a protocol upgrade's, which goes through
// httputil.ReverseProxy and its own trace: the re-send it reports is seen.
func TestSendTracesAnyOtherRoundTripper(t *testing.T) {
	for _, upgrade := range []bool{false, true} {
		t.Run(fmt.Sprintf("upgrade=%v", upgrade), func(t *testing.T) {
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, "http://127.0.0.1:1")),
				Config{Transport: reSendingTransport{}, WebSocket: true})
			req := httptest.NewRequest("GET", "/", nil)
			if upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
			}
			rec := serve(px, req)
			if rec.Code < 500 {
				t.Fatalf("status %d, want the failed round trip's 5xx", rec.Code)
			}
			if n := px.Stats().TransportReSends; n != 1 {
				t.Fatalf("TransportReSends = %d, want the one re-send the Transport reported", n)
			}
		})
	}
}
