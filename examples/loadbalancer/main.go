// Command loadbalancer is a minimal L7 load balancer built from gatekit:
//
//	go run ./examples/loadbalancer -listen 127.0.0.1:8080 -upstreams 127.0.0.1:9001,127.0.0.1:9002
//
// It logs nothing per request and exits cleanly on SIGINT or SIGTERM, which
// makes it the program the whole-proxy benchmarks (../shared/bench) run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadbalancer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadbalancer", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := fs.String("upstreams", "", "comma-separated upstreams, host:port or URLs (required)")
	policy := fs.String("policy", "round-robin", "load-balancing policy: "+strings.Join(balancer.PolicyNames(), ", "))
	hashKey := fs.String("hash-key", "", `key for -policy hash: "ip", "path", "header:NAME", "cookie:NAME", "query:NAME"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *upstreams == "" {
		return errors.New("-upstreams is required")
	}
	ups, err := balancer.ParseUpstreams(*upstreams)
	if err != nil {
		return err
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		return err
	}
	p, err := balancer.NewPolicy(*policy, pool, balancer.PolicyConfig{})
	if err != nil {
		return err
	}
	key, err := balancer.ParseKey(*hashKey)
	if err != nil {
		return err
	}
	proxy, err := balancer.NewProxy(p, balancer.Config{Key: key})
	if err != nil {
		return err
	}
	defer proxy.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := gatekit.NewServer(proxy, gatekit.ServerConfig{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	err = srv.ListenAndServe(ctx, *listen)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
