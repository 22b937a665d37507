// Command loadbalancer is a minimal L7 load balancer built from gatekit:
//
//	go run ./examples/loadbalancer -listen 127.0.0.1:8080 -upstreams 127.0.0.1:9001,127.0.0.1:9002
//
// -policy picks the load-balancing policy (with -hash-key for hash),
// -cache answers from an RFC 9111 shared cache in front of the upstreams,
// and -cpuprofile writes a CPU profile of the run (read it with go tool
// pprof) to see where a proxied request's time goes.
//
// It logs nothing per request and exits cleanly on SIGINT or SIGTERM, which
// makes it the program the whole-proxy benchmarks (bench/run.sh) run. It
// serves through gatekit.Server, so the safe server defaults apply: write
// and body read idle timeouts, refusal of ambiguously framed requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/reqkey"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, "loadbalancer:", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled. onListen, if not nil, is told the
// address once the listener is open.
func run(ctx context.Context, args []string, onListen func(net.Addr)) error {
	fs := flag.NewFlagSet("loadbalancer", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := fs.String("upstreams", "", "comma-separated upstreams, host:port or URLs (required)")
	policy := fs.String("policy", "round-robin", "load-balancing policy: "+strings.Join(balancer.PolicyNames(), ", "))
	useCache := fs.Bool("cache", false, "answer from an RFC 9111 shared cache in front of the upstreams")
	cacheBytes := fs.Int64("cache-bytes", 256<<20, "cache size bound in bytes, with -cache")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (pprof format)")
	hashKey := fs.String("hash-key", "", `key for -policy hash: "ip", "path", "header:NAME", "cookie:NAME", "query:NAME"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
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
	if isHash := strings.EqualFold(*policy, "hash") || strings.EqualFold(*policy, "consistent-hash"); isHash != (*hashKey != "") {
		if isHash {
			return errors.New("-policy hash needs -hash-key (ip, path, header:NAME, cookie:NAME or query:NAME)")
		}
		return fmt.Errorf("-hash-key is used only by -policy hash, not %q", *policy)
	}
	p, err := balancer.NewPolicy(*policy, pool, balancer.PolicyConfig{})
	if err != nil {
		return err
	}
	key, err := reqkey.Parse(*hashKey)
	if err != nil {
		return err
	}
	px, err := proxy.New(p, proxy.Config{Key: key})
	if err != nil {
		return err
	}
	defer px.Close()

	var h http.Handler = px
	if *useCache {
		c, err := cache.New(nil, cache.Config{MaxBytes: *cacheBytes})
		if err != nil {
			return err
		}
		defer c.Close()
		h = cache.Middleware(c)(px)
	}
	srv, err := gatekit.NewServer(h, gatekit.ServerConfig{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	err = srv.Serve(ctx, ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
