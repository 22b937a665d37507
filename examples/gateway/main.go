// Command gateway is the gatekit demo: an API gateway in front of three demo
// backends that it starts in-process on loopback.
//
//	go run ./examples/gateway
//
// It serves on 127.0.0.1:8080 and prints a few curl lines to try. Flags
// point it at real upstreams instead:
//
//	go run ./examples/gateway -listen 127.0.0.1:9000 -upstreams 127.0.0.1:3000,127.0.0.1:3001
//
// Ctrl-C shuts it down gracefully.
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
	"strings"
	"syscall"

	"github.com/gatekit/gatekit"
	"github.com/gatekit/gatekit/balancer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := fs.String("upstreams", "", "comma-separated upstreams (host:port or URLs); empty starts three demo backends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	list := *upstreams
	if list == "" {
		bs, err := startBackends(3)
		if err != nil {
			return err
		}
		defer closeBackends(bs)
		var addrs []string
		for _, b := range bs {
			addrs = append(addrs, b.ln.Addr().String())
		}
		list = strings.Join(addrs, ",")
	}
	g, closeGateway, err := newGateway(list, log)
	if err != nil {
		return err
	}
	defer closeGateway()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv, err := gatekit.NewServer(g, gatekit.ServerConfig{Logger: log})
	if err != nil {
		ln.Close()
		return err
	}
	printTryLines(ln.Addr().String(), list)
	err = srv.Serve(ctx, ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// newGateway assembles the demo gateway in front of the upstreams in list.
func newGateway(list string, log *slog.Logger) (http.Handler, func(), error) {
	ups, err := balancer.ParseUpstreams(list)
	if err != nil {
		return nil, nil, err
	}
	pool, err := balancer.NewPool(ups)
	if err != nil {
		return nil, nil, err
	}
	proxy, err := balancer.NewProxy(balancer.NewRoundRobin(pool), balancer.Config{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	g, err := gatekit.New([]gatekit.Route{
		{Pattern: "/", Handler: proxy},
	}, gatekit.Config{Logger: log})
	if err != nil {
		proxy.Close()
		return nil, nil, err
	}
	return g, func() { proxy.Close() }, nil
}

func printTryLines(addr, upstreams string) {
	fmt.Printf(`gatekit demo gateway on http://%[1]s in front of %[2]s

Try:
  curl -s http://%[1]s/hello                      # round robin over the backends (see "backend")
  curl -s -H 'X-Request-ID: my-id-1' http://%[1]s/hello   # the request ID is kept and passed upstream
  curl -s -H 'X-Forwarded-For: 6.6.6.6' http://%[1]s/     # a spoofed client address is ignored
  curl -si -H 'X_Forwarded_For: 1.2.3.4' http://%[1]s/    # header names with '_' are rejected (400)

Ctrl-C stops the gateway gracefully.
`, addr, upstreams)
}
