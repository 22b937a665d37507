package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gatekit/gatekit/balancer"
)

func TestGRPCUnaryCallsOfOneConnectionSpreadOverTargets(t *testing.T) {
	bs := []*grpcBackend{newGRPCBackend(t, "a"), newGRPCBackend(t, "b"), newGRPCBackend(t, "c")}
	px, _ := grpcProxy(t, Config{}, bs[0].addr, bs[1].addr, bs[2].addr)
	cc := grpcGateway(t, px)
	ctx := testContext(t)
	got := map[string]int{}
	for range 30 {
		name, err := unary(ctx, cc, "hello")
		if err != nil {
			t.Fatalf("Unary: %v", err)
		}
		got[name]++
	}
	for _, b := range bs {
		if got[b.name] != 10 {
			t.Errorf("calls per target = %v, want 10 each over one client connection", got)
		}
	}
}

func TestGRPCMetadataPassesThrough(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	ctx := metadata.AppendToOutgoingContext(testContext(t), "x-client", "c1")
	got, err := unary(ctx, cc, "metadata")
	if err != nil || got != "a:c1" {
		t.Fatalf("Unary(metadata) = %q, %v, want %q", got, err, "a:c1")
	}
}

func TestGRPCStreamsOf1000MessagesPassUnbuffered(t *testing.T) {
	const n = 1000
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	ctx := testContext(t)

	t.Run("server stream", func(t *testing.T) {
		st, err := newStream(ctx, cc, "Server")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SendMsg(wrapperspb.String(strconv.Itoa(n))); err != nil {
			t.Fatal(err)
		}
		st.CloseSend()
		for i := 0; ; i++ {
			m := new(wrapperspb.StringValue)
			err := st.RecvMsg(m)
			if err == io.EOF {
				if i != n {
					t.Fatalf("received %d messages, want %d", i, n)
				}
				break
			}
			if err != nil || m.GetValue() != strconv.Itoa(i) {
				t.Fatalf("message %d = %q, %v", i, m.GetValue(), err)
			}
		}
	})
	t.Run("client stream", func(t *testing.T) {
		st, err := newStream(ctx, cc, "Client")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := st.SendMsg(wrapperspb.String(strconv.Itoa(i))); err != nil {
				t.Fatalf("SendMsg %d: %v", i, err)
			}
		}
		st.CloseSend()
		m := new(wrapperspb.StringValue)
		if err := st.RecvMsg(m); err != nil || m.GetValue() != strconv.Itoa(n) {
			t.Fatalf("count = %q, %v, want %d", m.GetValue(), err, n)
		}
	})
	t.Run("bidirectional stream in lockstep", func(t *testing.T) {
		// Each message must come back before the next is sent: any
		// buffering of either direction in the proxy would stall it.
		st, err := newStream(ctx, cc, "Bidi")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := st.SendMsg(wrapperspb.String(strconv.Itoa(i))); err != nil {
				t.Fatalf("SendMsg %d: %v", i, err)
			}
			m := new(wrapperspb.StringValue)
			if err := st.RecvMsg(m); err != nil || m.GetValue() != strconv.Itoa(i) {
				t.Fatalf("echo %d = %q, %v", i, m.GetValue(), err)
			}
		}
		st.CloseSend()
		if err := st.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
			t.Fatalf("end of stream = %v, want io.EOF", err)
		}
	})
}

func TestGRPCStatusHeadersAndTrailersArriveIntact(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	for _, code := range []codes.Code{codes.NotFound, codes.InvalidArgument, codes.Unavailable, codes.PermissionDenied, codes.Internal} {
		t.Run(code.String(), func(t *testing.T) {
			var header, trailer metadata.MD
			_, err := unary(testContext(t), cc, "status:"+strconv.Itoa(int(code)), grpc.Header(&header), grpc.Trailer(&trailer))
			st := status.Convert(err)
			if st.Code() != code || st.Message() != "failed: ünïcode % message" {
				t.Fatalf("status = %v %q, want %v with the backend's message", st.Code(), st.Message(), code)
			}
			if first(header.Get("x-header")) != "h-a" {
				t.Errorf("header metadata = %v", header)
			}
			if first(trailer.Get("x-trailer")) != "t-a" || first(trailer.Get("x-bin-bin")) != "\x00\x01\xff" {
				t.Errorf("trailer metadata = %v", trailer)
			}
			if n := b.calls.Load(); code == codes.Unavailable && n > 5 {
				t.Errorf("backend saw %d calls: an UNAVAILABLE answer was retried", n)
			}
		})
	}
}

func TestGRPCDeadlineExpiresAtGateway(t *testing.T) {
	tests := []struct {
		name         string
		routeTimeout time.Duration
		clientWait   time.Duration
	}{
		{"client's grpc-timeout", time.Minute, 300 * time.Millisecond},
		{"route's timeout caps a longer one", 300 * time.Millisecond, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newGRPCBackend(t, "a")
			px, _ := grpcProxy(t, Config{Timeout: tc.routeTimeout}, b.addr)
			cc := grpcGateway(t, px)
			ctx, cancel := context.WithTimeout(context.Background(), tc.clientWait)
			defer cancel()
			start := time.Now()
			_, err := unary(ctx, cc, "block")
			if code := status.Code(err); code != codes.DeadlineExceeded {
				t.Fatalf("Unary(block) = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("call took %v", d)
			}
			b.mu.Lock()
			timeout := b.timeout
			b.mu.Unlock()
			if timeout <= 0 || timeout > 300*time.Millisecond {
				t.Errorf("target's deadline was %v away, want at most 300ms", timeout)
			}
		})
	}
}

func TestGRPCStreamPastTheRouteTimeoutEndsDeadlineExceeded(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{Timeout: 300 * time.Millisecond}, b.addr)
	cc := grpcGateway(t, px)
	st, err := newStream(testContext(t), cc, "Bidi") // no deadline of its own
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(wrapperspb.String("1")); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != nil {
		t.Fatal(err) // the response has started
	}
	// Nothing more is sent: the route's deadline ends the stream.
	if err := st.RecvMsg(new(wrapperspb.StringValue)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("stream past the route's timeout ended %v, want DeadlineExceeded", err)
	}
}

func TestGRPCCallerCancellationReachesTarget(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() {
		_, err := unary(ctx, cc, "block")
		errc <- err
	}()
	<-b.blocked // the call is at the target
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled call = %v, want Canceled", err)
	}
	// The target's handler sees the cancellation.
	select {
	case err := <-b.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("target's context ended with %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the target never saw the caller's cancellation")
	}
}

func TestGRPCGatewayErrorsAreGRPCStatuses(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, pool := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	pool.SetHealthy(pool.Targets()[0], false)
	_, err := unary(testContext(t), cc, "hello")
	if code := status.Code(err); code != codes.Unavailable {
		t.Fatalf("no target: %v, want Unavailable", err)
	}

	// The same through a raw HTTP/2 request, to see the wire form.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/"+echoService+"/Unary", nil)
	req.Header.Set("Content-Type", "application/grpc")
	px.ServeHTTP(rec, req)
	h := rec.Header()
	if rec.Code != 200 || h.Get("Grpc-Status") != "14" || h.Get("Content-Type") != "application/grpc" ||
		h.Get("Grpc-Retry-Pushback-Ms") != "1000" || rec.Body.Len() != 0 {
		t.Errorf("wire form: %d %v body %q", rec.Code, h, rec.Body)
	}
}

func TestGRPCBackendKilledMidLoad(t *testing.T) {
	bs := []*grpcBackend{newGRPCBackend(t, "a"), newGRPCBackend(t, "b"), newGRPCBackend(t, "c")}
	px, _ := grpcProxy(t, Config{}, bs[0].addr, bs[1].addr, bs[2].addr)
	cc := grpcGateway(t, px)
	ctx := testContext(t)

	// One bidirectional stream to each backend, in progress.
	var streams []grpc.ClientStream
	byBackend := map[string]grpc.ClientStream{}
	for range 3 {
		st, err := newStream(ctx, cc, "Bidi")
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	for i, st := range streams {
		if err := st.SendMsg(wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
		if err := st.RecvMsg(new(wrapperspb.StringValue)); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	for _, b := range bs {
		if b.calls.Load() != 1 {
			t.Fatalf("streams per backend uneven: %d", b.calls.Load())
		}
	}
	// Find the stream on backend a: send on each after the kill and see
	// which fails. Kill a while unary load runs.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	load := func(n int) {
		defer wg.Done()
		for range n {
			if _, err := unary(ctx, cc, "hello"); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
		}
	}
	for range 4 {
		wg.Add(1)
		go load(50)
	}
	bs[0].srv.Stop()
	wg.Wait()
	for _, err := range failed {
		// A call in flight on the killed backend when it died reached
		// it and is not sent again; it ends UNAVAILABLE.
		if code := status.Code(err); code != codes.Unavailable {
			t.Errorf("unary call during the kill: %v, want Unavailable", err)
		}
	}
	// After the kill every call succeeds: those picked for the dead
	// target never reached it and are retried on another.
	for i := range 30 {
		if name, err := unary(ctx, cc, "hello"); err != nil || name == "a" {
			t.Fatalf("call %d after the kill = %q, %v", i, name, err)
		}
	}
	unavailable := 0
	for _, st := range streams {
		st.SendMsg(wrapperspb.String("y"))
		err := st.RecvMsg(new(wrapperspb.StringValue))
		switch code := status.Code(err); {
		case err == nil:
			byBackend["alive"] = st
		case code == codes.Unavailable:
			unavailable++
		default:
			t.Errorf("stream on the killed backend ended %v, want Unavailable", err)
		}
		st.CloseSend()
	}
	if unavailable != 1 {
		t.Errorf("%d streams ended Unavailable, want the 1 on the killed backend", unavailable)
	}
	for _, st := range byBackend {
		for {
			if err := st.RecvMsg(new(wrapperspb.StringValue)); err != nil {
				break
			}
		}
	}
}

func TestH2CTargetGetsMoreConnectionsWhenStreamsSaturateOne(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	// The target allows 2 concurrent streams per connection.
	b := serveGRPCBackend(t, "a", cl, grpc.MaxConcurrentStreams(2))
	px, _ := grpcProxy(t, Config{}, b.addr)
	cc := grpcGateway(t, px)
	ctx, cancel := context.WithCancel(testContext(t))
	const calls = 6
	var wg sync.WaitGroup
	for i := range calls {
		// One call at a time, each after the last reached the target:
		// a new connection learns the target's limit from its first
		// SETTINGS frame, and streams sent over the limit before it
		// arrives are refused.
		wg.Go(func() { unary(ctx, cc, "block") })
		select {
		case <-b.blocked:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d calls reached the target over %d connections", i, calls, cl.n.Load())
		}
	}
	cancel()
	wg.Wait()
	if n := cl.n.Load(); n < calls/2 {
		t.Errorf("%d connections to the target for %d concurrent calls at 2 streams each, want at least %d", n, calls, calls/2)
	}
}

func TestGRPCOverTLSBothWays(t *testing.T) {
	cert, roots := testCertificate(t)
	b := newGRPCBackend(t, "tls", grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	ups, err := balancer.ParseUpstreams("https://" + b.addr)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	px, err := New(balancer.NewRoundRobin(pool), Config{TransportConfig: TransportConfig{TLSClientConfig: &tls.Config{RootCAs: roots}}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	// Inbound HTTP/2 over TLS, as a gatekit server with TLSConfig serves it.
	srv := httptest.NewUnstartedServer(px)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	cc, err := grpc.NewClient(srv.Listener.Addr().String(), grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(roots, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := testContext(t)
	if got, err := unary(ctx, cc, "hello"); err != nil || got != "tls" {
		t.Fatalf("unary over h2 both ways = %q, %v", got, err)
	}
	st, err := newStream(ctx, cc, "Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		st.SendMsg(wrapperspb.String(strconv.Itoa(i)))
		m := new(wrapperspb.StringValue)
		if err := st.RecvMsg(m); err != nil || m.GetValue() != strconv.Itoa(i) {
			t.Fatalf("echo %d = %q, %v", i, m.GetValue(), err)
		}
	}
	st.CloseSend()
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Fatalf("end of stream = %v", err)
	}
}

func TestGRPCRetriesOnlyStatusesThePolicyNames(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		wantErr  codes.Code
	}{
		{"UNAVAILABLE named: sent again to the other target", []int{14}, codes.OK},
		{"no status named: the caller gets it", nil, codes.Unavailable},
		{"another status named", []int{8}, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newGRPCBackend(t, "a"), newGRPCBackend(t, "b")
			px, _ := grpcProxy(t, Config{Retry: RetryConfig{GRPCStatuses: tc.statuses, BackoffBase: -1}}, a.addr, b.addr)
			cc := grpcGateway(t, px)
			ctx := testContext(t)
			for i := range 4 { // round robin: some calls land on a first
				got, err := unary(ctx, cc, "unavailable-on:a")
				if code := status.Code(err); code != codes.OK && code != tc.wantErr || tc.wantErr == codes.OK && got != "b" {
					t.Fatalf("call %d = %q, %v, want %v", i, got, err, tc.wantErr)
				}
			}
			if a.calls.Load() == 0 {
				t.Errorf("no call was sent to target a")
			}
		})
	}
	if _, err := New(balancer.NewRoundRobin(nil), Config{Retry: RetryConfig{GRPCStatuses: []int{0}}}); err == nil {
		t.Error("New accepted grpc-status 0 (OK) as retryable")
	}
}

func TestGRPCCallPastTheReplayLimitIsNotRetried(t *testing.T) {
	a, b := newGRPCBackend(t, "a"), newGRPCBackend(t, "b")
	px, _ := grpcProxy(t, Config{Retry: RetryConfig{GRPCStatuses: []int{14}, MaxBodyBytes: 64, BackoffBase: -1}}, a.addr, b.addr)
	cc := grpcGateway(t, px)
	ctx := testContext(t)
	long := "unavailable-on:a|" + strings.Repeat("x", 100) // over the 64 bytes kept for a replay
	failed := 0
	for range 2 { // round robin: one of the two lands on a
		if _, err := unary(ctx, cc, long); status.Code(err) == codes.Unavailable {
			failed++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 || a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Errorf("%d calls failed, a saw %d, b %d: want a's UNAVAILABLE passed on, not retried", failed, a.calls.Load(), b.calls.Load())
	}
}

func TestGRPCClientStreamOutlivesTheServerReadTimeout(t *testing.T) {
	b := newGRPCBackend(t, "a")
	px, _ := grpcProxy(t, Config{Timeout: -1}, b.addr)
	srv := httptest.NewUnstartedServer(px)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protocols
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	cc := dialGRPC(t, srv.Listener.Addr().String())
	st, err := newStream(testContext(t), cc, "Client")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := st.SendMsg(wrapperspb.String(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the time under test: the stream outlives ReadTimeout
	}
	st.CloseSend()
	m := new(wrapperspb.StringValue)
	if err := st.RecvMsg(m); err != nil || m.GetValue() != "3" {
		t.Fatalf("client stream over 300ms with a 100ms ReadTimeout = %q, %v", m.GetValue(), err)
	}
}

func TestParseGRPCTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true},
		{"250m", 250 * time.Millisecond, true},
		{"99999999H", maxGRPCTimeout, true},
		{"5M", 5 * time.Minute, true},
		{"10u", 10 * time.Microsecond, true},
		{"7n", 7, true},
		{"", 0, false},
		{"S", 0, false},
		{"123456789S", 0, false},
		{"1x", 0, false},
		{"-1S", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseGRPCTimeout(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseGRPCTimeout(%q) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFormatGRPCTimeoutRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{1, 999, time.Millisecond, 1500 * time.Millisecond, time.Hour, 1e8 * time.Second} {
		s := formatGRPCTimeout(d)
		got, ok := parseGRPCTimeout(s)
		if !ok || got < d || len(s) > 9 {
			t.Errorf("formatGRPCTimeout(%v) = %q, parsed %v, %v", d, s, got, ok)
		}
	}
}

func FuzzParseGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "250m", "99999999H", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseGRPCTimeout(s)
		if !ok {
			return
		}
		if d < 0 || d > maxGRPCTimeout {
			t.Fatalf("parseGRPCTimeout(%q) = %v", s, d)
		}
		if back, ok := parseGRPCTimeout(formatGRPCTimeout(d)); !ok || back < d {
			t.Fatalf("%q -> %v -> %q -> %v", s, d, formatGRPCTimeout(d), back)
		}
	})
}

var (
	_ = errors.New
	_ = http.StatusOK
	_ = balancer.ErrNoTargets
)
