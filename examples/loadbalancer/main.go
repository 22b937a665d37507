// Command loadbalancer is a minimal L7 load balancer built from gatekit:
//
//	go run ./examples/loadbalancer -listen 127.0.0.1:8080 -upstreams 127.0.0.1:9001,127.0.0.1:9002
//
// -policy picks the load-balancing policy (with -hash-key for hash), and
// -cache answers from an RFC 9111 shared cache in front of the upstreams.
// -cpuprofile FILE writes a CPU profile of the run (read it with go tool
// pprof) to see where a proxied request's time goes; -allocprofile FILE
// records every allocation of the run and writes them as a pprof profile
// on exit (go tool pprof -sample_index=alloc_objects), to count a proxied
// request's allocations.
// -rate 100/s -rate-key ip|global limits requests, in this process or,
// with -redis ADDR, shared by every instance using that Redis
// (-redis-mode open|closed|local says what happens while it is away).
// -surge puts an adaptive concurrency limit over the upstream pool (excess
// queues briefly, then gets 503 with Retry-After) and writes each surge
// event to stderr as one line: "surge started", "surge sustained" or
// "surge ended".
// -tls-cert FILE -tls-key FILE serve HTTPS (HTTP/2 included) with
// certificate files reloaded when they change and on SIGHUP; -acme-ca URL
// -acme-domain NAME serve HTTPS with a certificate from an ACME CA.
// -h2c also accepts plaintext HTTP/2 with prior knowledge from clients;
// with h2c:// upstreams it load-balances gRPC per call:
//
//	go run ./examples/loadbalancer -h2c -upstreams h2c://127.0.0.1:50051,h2c://127.0.0.1:50052
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
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/proxy"
	"github.com/gatekit/gatekit/reqkey"
	"github.com/gatekit/gatekit/surge"
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
	h2c := fs.Bool("h2c", false, "also accept plaintext HTTP/2 with prior knowledge (h2c), as gRPC clients without TLS speak it")
	upstreams := fs.String("upstreams", "", "comma-separated upstreams, host:port or URLs (required)")
	policy := fs.String("policy", "round-robin", "load-balancing policy: "+strings.Join(balancer.PolicyNames(), ", "))
	useCache := fs.Bool("cache", false, "answer from an RFC 9111 shared cache in front of the upstreams")
	cacheBytes := fs.Int64("cache-bytes", 256<<20, "cache size bound in bytes, with -cache")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (pprof format)")
	allocProfile := fs.String("allocprofile", "", "record every allocation of the run and write them to this file on exit (pprof format; slows the proxy)")
	hashKey := fs.String("hash-key", "", `key for -policy hash: "ip", "path", "header:NAME", "cookie:NAME", "query:NAME"`)
	var rf rateFlags
	fs.StringVar(&rf.rate, "rate", "", `limit requests, e.g. "100/s" or "6000/m" (empty: no limit)`)
	fs.StringVar(&rf.key, "rate-key", "ip", `what -rate limits: "ip" (per client) or "global"`)
	fs.StringVar(&rf.redis, "redis", "", "share the -rate limit with other instances through the Redis at this address")
	fs.StringVar(&rf.mode, "redis-mode", "local", `while Redis is unavailable: "local" (the limit / -instances here), "open" or "closed"`)
	fs.IntVar(&rf.instances, "instances", 1, "expected number of instances sharing the -redis limit")
	useSurge := fs.Bool("surge", false, "adaptive concurrency limit and surge detection over the upstream pool; events on stderr")
	adminAddr := fs.String("admin", "", "serve the admin handler (status page, /metrics, /readyz; cache purge with $GATEKIT_ADMIN_TOKEN) on this address, e.g. 127.0.0.1:9090")
	var tlsf tlsFlags
	tlsf.register(fs)
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
	if *allocProfile != "" {
		stop, err := recordAllocs(*allocProfile)
		if err != nil {
			return err
		}
		defer stop()
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

	limit, err := rf.middleware()
	if err != nil {
		return err
	}
	defer limit.close()

	var h http.Handler = px
	ops := &operated{pool: pool, proxy: px, limiter: limit.local, shared: limit.shared}
	if *useSurge {
		lim, err := surge.NewLimiter(surge.LimiterConfig{})
		if err != nil {
			return err
		}
		det, err := surge.NewDetector(lim, surge.DetectorConfig{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		if err != nil {
			return err
		}
		det.Start()
		defer det.Close()
		ops.surge = det
		h = surge.Middleware(lim, surge.MiddlewareConfig{})(h) // cache hits never reach it
	}
	if *useCache {
		c, err := cache.New(nil, cache.Config{MaxBytes: *cacheBytes})
		if err != nil {
			return err
		}
		defer c.Close()
		h = cache.Middleware(c)(h)
		ops.cache = c
	}
	if limit.mw != nil {
		h = limit.mw(h) // the cheapest rejection first: before the cache
	}
	if *adminAddr != "" {
		if h, err = ops.instrument(h); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tlsConfig, stopTLS, err := tlsf.setup(ctx, log)
	if err != nil {
		return err
	}
	defer stopTLS()
	srv, err := gatekit.NewServer(h, gatekit.ServerConfig{Logger: log, TLSConfig: tlsConfig, UnencryptedHTTP2: *h2c})
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
	if *adminAddr != "" {
		aln, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(os.Stderr, "admin: http://%s/ (status page), /metrics, /readyz\n", aln.Addr())
		actx, stopAdmin := context.WithCancel(ctx)
		adminDone := make(chan error, 1)
		go func() { adminDone <- ops.serveAdmin(actx, aln, srv.Ready, log) }()
		defer func() { stopAdmin(); <-adminDone }()
	}
	err = srv.Serve(ctx, ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// recordAllocs samples every allocation from now on; stop writes them, as
// of a collection it runs, to the file at path (created now) in pprof
// format and restores the sampling rate.
func recordAllocs(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	rate := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	return func() {
		runtime.GC() // the profile is as of the last completed collection
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "loadbalancer: -allocprofile:", err)
		}
		f.Close()
		runtime.MemProfileRate = rate
	}, nil
}
