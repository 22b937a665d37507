package balancer

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcHealthServer is a real grpc-go server with the standard health
// service on a loopback port, stopped at the end of the test.
func grpcHealthServer(t *testing.T) (*health.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return hs, ln.Addr().String()
}

func TestGRPCHealthCheckFollowsServingStatusPerService(t *testing.T) {
	hs, addr := grpcHealthServer(t)
	hs.SetServingStatus("echo.A", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("echo.B", healthpb.HealthCheckResponse_NOT_SERVING)
	ups, err := ParseUpstreams("h2c://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		service string
		status  healthpb.HealthCheckResponse_ServingStatus // set before the probe, unless 0
		pass    bool
	}{
		{"whole server", "", 0, true},
		{"serving service", "echo.A", 0, true},
		{"not serving service", "echo.B", 0, false},
		{"unknown service (NOT_FOUND)", "echo.C", 0, false},
		{"service going down", "echo.A", healthpb.HealthCheckResponse_NOT_SERVING, false},
		{"service back up", "echo.A", healthpb.HealthCheckResponse_SERVING, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := NewPool(ups)
			if err != nil {
				t.Fatal(err)
			}
			hc, err := NewHealthChecker(map[string]*Pool{"grpc": pool}, HealthConfig{GRPC: true, GRPCService: tc.service})
			if err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			if tc.status != 0 {
				hs.SetServingStatus(tc.service, tc.status)
			}
			err = hc.Check(context.Background(), pool.Targets()[0])
			if (err == nil) != tc.pass {
				t.Fatalf("Check(%q) = %v, want pass=%v", tc.service, err, tc.pass)
			}
		})
	}
}

func TestGRPCHealthCheckFailsOnNonGRPCAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not grpc"))
	}))
	defer srv.Close()
	pool := poolOf(t, srv.URL)
	hc, err := NewHealthChecker(map[string]*Pool{"p": pool}, HealthConfig{GRPC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if err := hc.Check(context.Background(), pool.Targets()[0]); err == nil {
		t.Fatal("Check of a plain HTTP server passed a gRPC health check")
	}
}

func TestGRPCHealthMessagesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		pb   []byte
		want uint64
		ok   bool
	}{
		{"serving", []byte{0x08, 0x01}, 1, true},
		{"empty is UNKNOWN", nil, 0, true},
		{"unknown fields skipped", []byte{0x12, 0x02, 'h', 'i', 0x08, 0x02, 0x1d, 1, 2, 3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8}, 2, true},
		{"truncated varint", []byte{0x08}, 0, false},
		{"truncated bytes", []byte{0x12, 0x05, 'h'}, 0, false},
		{"bad wire type", []byte{0x0f}, 0, false},
	}
	for _, tc := range tests {
		got, err := parseGRPCHealthResponse(tc.pb)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: parseGRPCHealthResponse(%x) = %d, %v, want %d ok=%v", tc.name, tc.pb, got, err, tc.want, tc.ok)
		}
	}
	if got := grpcHealthRequest("a.B"); string(got) != "\x00\x00\x00\x00\x05\x0a\x03a.B" {
		t.Errorf("grpcHealthRequest(a.B) = %x", got)
	}
	if got := grpcHealthRequest(""); string(got) != "\x00\x00\x00\x00\x00" {
		t.Errorf("grpcHealthRequest() = %x", got)
	}
}

func FuzzParseGRPCHealthResponse(f *testing.F) {
	for _, s := range [][]byte{{0x08, 0x01}, nil, {0x12, 0x02, 'h', 'i'}, {0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pb []byte) {
		st, err := parseGRPCHealthResponse(pb)
		if err != nil {
			return
		}
		// Appending a well-formed status field must win.
		if got, err := parseGRPCHealthResponse(append(pb, 0x08, 0x01)); err != nil || got != 1 {
			t.Fatalf("%x + status 1 = %d, %v (was %d)", pb, got, err, st)
		}
	})
}
