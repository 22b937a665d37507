package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gatekit/gatekit/balancer"
)

// The test service, gatekit.test.Echo, is declared by hand (no generated
// code) on wrapperspb.StringValue messages, with the default protobuf codec:
//
//	Unary(StringValue) -> StringValue: the backend's name, or a status
//	  chosen by the request ("status:<code>", "block", UNAVAILABLE from
//	  one backend with "unavailable-on:<name>[|padding]").
//	Server(StringValue "<n>") -> stream of n StringValue "0".."n-1".
//	Client(stream StringValue) -> StringValue "<count>".
//	Bidi(stream StringValue) -> stream of the same values echoed.
const echoService = "gatekit.test.Echo"

type echoServer struct {
	name    string
	calls   atomic.Int64
	mu      sync.Mutex
	timeout time.Duration // time left to the last call's deadline, as the backend saw it (grpc-timeout)
	ctxErr  error         // context error of the last blocked call
	blocked chan struct{} // a "block" call arrived
	ended   chan error    // a "block" call's context ended, with this error
}

func (s *echoServer) record(ctx context.Context) {
	s.calls.Add(1)
	s.mu.Lock()
	s.timeout = 0
	if dl, ok := ctx.Deadline(); ok {
		s.timeout = time.Until(dl)
	}
	s.mu.Unlock()
}

func unaryHandler(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*echoServer)
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	s.record(ctx)
	switch v := in.GetValue(); {
	case v == "block":
		select {
		case s.blocked <- struct{}{}:
		default:
		}
		<-ctx.Done()
		s.mu.Lock()
		s.ctxErr = ctx.Err()
		s.mu.Unlock()
		select {
		case s.ended <- ctx.Err():
		default:
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	case len(v) > 7 && v[:7] == "status:":
		code, _ := strconv.Atoi(v[7:])
		grpc.SetHeader(ctx, metadata.Pairs("x-header", "h-"+s.name))
		grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t-"+s.name, "x-bin-bin", "\x00\x01\xff"))
		return nil, status.Error(codes.Code(code), "failed: ünïcode % message")
	case len(v) > 15 && v[:15] == "unavailable-on:":
		if name, _, _ := strings.Cut(v[15:], "|"); name == s.name {
			return nil, status.Error(codes.Unavailable, "draining")
		}
		return wrapperspb.String(s.name), nil
	case v == "metadata":
		md, _ := metadata.FromIncomingContext(ctx)
		return wrapperspb.String(s.name + ":" + first(md.Get("x-client"))), nil
	}
	return wrapperspb.String(s.name), nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func serverStreamHandler(srv any, st grpc.ServerStream) error {
	srv.(*echoServer).record(st.Context())
	in := new(wrapperspb.StringValue)
	if err := st.RecvMsg(in); err != nil {
		return err
	}
	n, _ := strconv.Atoi(in.GetValue())
	for i := range n {
		if err := st.SendMsg(wrapperspb.String(strconv.Itoa(i))); err != nil {
			return err
		}
	}
	return nil
}

func clientStreamHandler(srv any, st grpc.ServerStream) error {
	srv.(*echoServer).record(st.Context())
	n := 0
	for {
		in := new(wrapperspb.StringValue)
		err := st.RecvMsg(in)
		if err == io.EOF {
			return st.SendMsg(wrapperspb.String(strconv.Itoa(n)))
		}
		if err != nil {
			return err
		}
		if in.GetValue() != strconv.Itoa(n) {
			return status.Errorf(codes.DataLoss, "message %d is %q", n, in.GetValue())
		}
		n++
	}
}

func bidiHandler(srv any, st grpc.ServerStream) error {
	srv.(*echoServer).record(st.Context())
	for {
		in := new(wrapperspb.StringValue)
		err := st.RecvMsg(in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.SendMsg(in); err != nil {
			return err
		}
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: echoService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unaryHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Server", Handler: serverStreamHandler, ServerStreams: true},
		{StreamName: "Client", Handler: clientStreamHandler, ClientStreams: true},
		{StreamName: "Bidi", Handler: bidiHandler, ServerStreams: true, ClientStreams: true},
	},
}

// grpcBackend is a real grpc-go server of the echo service on a loopback
// port, stopped at the end of the test.
type grpcBackend struct {
	*echoServer
	srv  *grpc.Server
	addr string
}

func newGRPCBackend(t testing.TB, name string, opts ...grpc.ServerOption) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveGRPCBackend(t, name, ln, opts...)
}

// serveGRPCBackend serves the echo service on ln until the end of the test.
func serveGRPCBackend(t testing.TB, name string, ln net.Listener, opts ...grpc.ServerOption) *grpcBackend {
	b := &grpcBackend{echoServer: &echoServer{name: name, blocked: make(chan struct{}, 16), ended: make(chan error, 16)}, srv: grpc.NewServer(opts...), addr: ln.Addr().String()}
	b.srv.RegisterService(&echoDesc, b.echoServer)
	go b.srv.Serve(ln)
	t.Cleanup(b.srv.Stop)
	return b
}

// grpcGateway serves px with prior-knowledge h2c on a loopback port and
// returns a gRPC client connection to it; both are closed at the end of
// the test.
func grpcGateway(t testing.TB, h http.Handler) *grpc.ClientConn {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protocols
	srv.Start()
	t.Cleanup(srv.Close)
	return dialGRPC(t, srv.Listener.Addr().String())
}

func dialGRPC(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// grpcProxy returns a round-robin Proxy over h2c targets at addrs, closed
// at the end of the test.
func grpcProxy(t testing.TB, cfg Config, addrs ...string) (*Proxy, *balancer.Pool) {
	t.Helper()
	var ups []balancer.Upstream
	for _, a := range addrs {
		u, err := balancer.ParseUpstreams("h2c://" + a)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u...)
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	px, err := New(balancer.NewRoundRobin(pool), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px, pool
}

func unary(ctx context.Context, cc *grpc.ClientConn, in string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, "/"+echoService+"/Unary", wrapperspb.String(in), out, opts...)
	return out.GetValue(), err
}

func newStream(ctx context.Context, cc *grpc.ClientConn, method string) (grpc.ClientStream, error) {
	for i := range echoDesc.Streams {
		if d := &echoDesc.Streams[i]; d.StreamName == method {
			return cc.NewStream(ctx, d, "/"+echoService+"/"+method)
		}
	}
	return nil, errors.New("no such method " + method)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// testCertificate returns a self-signed certificate for 127.0.0.1 and a
// pool that trusts it.
func testCertificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}
