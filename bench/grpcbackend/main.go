// Command grpcbackend is the gRPC backend of bench/grpc.sh: a grpc-go
// server with the standard health service (grpc.health.v1.Health/Check,
// a unary call that any HTTP/2 load generator can make with a fixed
// five-byte body) on each address of -listen, over plaintext HTTP/2.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18201", "comma-separated addresses to serve on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	errc := make(chan error, 1)
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "grpcbackend:", err)
			os.Exit(1)
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
		srv.Stop()
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "grpcbackend:", err)
		os.Exit(1)
	}
}
