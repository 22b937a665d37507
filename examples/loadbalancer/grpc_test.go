package main

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestH2CLoadBalancesGRPC runs the load balancer with -h2c in front of two
// grpc-go servers (h2c:// upstreams) and checks that one client
// connection's calls reach both.
func TestH2CLoadBalancesGRPC(t *testing.T) {
	var ups []string
	hits := map[string]int{}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			hits[addr]++ // calls are sequential
			return h(ctx, req)
		}))
		healthpb.RegisterHealthServer(srv, health.NewServer())
		go srv.Serve(ln)
		defer srv.Stop()
		ups = append(ups, "h2c://"+addr)
	}
	addr, stop := startLB(t, "-h2c", "-upstreams", ups[0]+","+ups[1])
	cc, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client := healthpb.NewHealthClient(cc)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	for range 10 {
		resp, err := client.Check(cctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check = %v, %v", resp, err)
		}
	}
	ccancel()
	cc.Close()
	if err := stop(); err != nil {
		t.Fatalf("run = %v after cancel", err)
	}
	if len(hits) != 2 || hits[ups[0][6:]] != 5 {
		t.Errorf("calls per upstream = %v, want 5 each", hits)
	}
}
