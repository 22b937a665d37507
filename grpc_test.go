package gatekit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/surge"
	gatetls "github.com/gatekit/gatekit/tls"
)

// grpcHealthBackend is a real grpc-go server of the standard health
// service (a unary method to call) on a loopback port.
func grpcHealthBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// serveH2C serves h with NewServer (and UnencryptedHTTP2 if h2c) on a
// loopback port until the end of the test, and returns a gRPC client of
// it.
func serveH2C(t *testing.T, h http.Handler, h2c bool) *grpc.ClientConn {
	t.Helper()
	srv, err := NewServer(h, ServerConfig{UnencryptedHTTP2: h2c, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		cancel()
		<-served
	})
	return cc
}

func TestGatewayAnswersGRPCCallersInGRPC(t *testing.T) {
	ups, err := balancer.ParseUpstreams("h2c://" + grpcHealthBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(balancer.NewRoundRobin(pool), proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	lim, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, []route.Rule{{
		Path:       "/grpc.health.v1.Health/Check",
		Methods:    []string{"POST"},
		Middleware: []func(http.Handler) http.Handler{ratelimit.Middleware(lim)},
		Handler:    px,
	}}, Config{})
	cc := serveH2C(t, g, true)
	client := healthpb.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Check through the gateway = %v, %v", resp, err)
	}
	var trailer metadata.MD
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() == "" {
		t.Fatalf("second Check = %v, want ResourceExhausted with a message", err)
	}
	if v := trailer.Get("grpc-retry-pushback-ms"); len(v) != 1 || v[0] == "0" {
		t.Errorf("retry pushback = %q, want the Retry-After in milliseconds", v)
	}
	// A method no route serves is UNIMPLEMENTED, as from a gRPC server.
	_, err = healthpb.NewHealthClient(cc).List(ctx, &healthpb.HealthListRequest{})
	if code := status.Code(err); code != codes.Unimplemented {
		t.Fatalf("unrouted method = %v, want Unimplemented", err)
	}
}

func TestGatewayErrorsStayProblemJSONForOtherCallers(t *testing.T) {
	g := newGateway(t, []route.Rule{{Path: "/x", Handler: http.NotFoundHandler()}}, Config{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/nothing", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 404 || !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("non-gRPC error = %d %q, want 404 problem+json", resp.StatusCode, ct)
	}
}

func TestServerRefusesPriorKnowledgeH2CUnlessEnabled(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "0")
	})
	for _, h2c := range []bool{false, true} {
		cc := serveH2C(t, h, h2c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		// Enabled, the handler's empty OK answer reaches the client
		// (which then misses the response message); disabled, the
		// connection fails.
		if got := status.Code(err); h2c && got == codes.Unavailable || !h2c && got != codes.Unavailable {
			t.Errorf("UnencryptedHTTP2 %v: Check = %v", h2c, err)
		}
	}
}

func TestGRPCOverTLSFromClientToTarget(t *testing.T) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(gatetls.Leaf{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	// The target: grpc-go over TLS (h2 by ALPN), an https:// upstream.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	healthpb.RegisterHealthServer(backend, health.NewServer())
	go backend.Serve(ln)
	defer backend.Stop()
	ups, err := balancer.ParseUpstreams("https://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(balancer.NewRoundRobin(pool), proxy.Config{TransportConfig: proxy.TransportConfig{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	// The gateway: NewServer terminating TLS with HTTP/2.
	srv, err := NewServer(px, ServerConfig{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, gln) }()
	defer func() { cancel(); <-served }()
	cc, err := grpc.NewClient(gln.Addr().String(), grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(ca.Pool(), "")))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	resp, err := healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check over TLS both ways = %v, %v", resp, err)
	}
}

func TestGatewayShedsGRPCCallsAsUnavailable(t *testing.T) {
	lim, err := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Bool
	g := newGateway(t, []route.Rule{{
		Path:       "/grpc.health.v1.Health/Check",
		Middleware: []func(http.Handler) http.Handler{surge.Middleware(lim, surge.MiddlewareConfig{})},
		Handler:    http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Store(true) }),
	}}, Config{})
	cc := serveH2C(t, g, true)
	busy, err := lim.TryAcquire() // another call holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Release(surge.Success)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var trailer metadata.MD
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if code := status.Code(err); code != codes.Unavailable || reached.Load() {
		t.Fatalf("shed call = %v (handler reached: %v), want Unavailable", err, reached.Load())
	}
	if v := trailer.Get("grpc-retry-pushback-ms"); len(v) != 1 || v[0] != "1000" {
		t.Errorf("retry pushback = %q, want [1000] from Retry-After: 1", v)
	}
}
