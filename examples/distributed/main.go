// Command distributed runs two gateway instances that share one rate
// limit through Redis, sends requests to both in turn, and shows that
// together they admit the limit once, not once each:
//
//	go run ./examples/distributed [-redis 127.0.0.1:6379]
//
// Without -redis it starts redis-server on a free loopback port (and stops
// it at the end); if redis-server is not installed it says how to install
// it and exits. Everything listens on 127.0.0.1 and it sends -requests
// requests, then exits.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/ratelimit/redisrate"
	"github.com/gatekit/gatekit/reqkey"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "distributed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("distributed", flag.ContinueOnError)
	addr := fs.String("redis", "", "Redis address (empty: start redis-server on a free loopback port)")
	rate := fs.String("rate", "10/m", "the limit both instances share, for all clients together")
	requests := fs.Int("requests", 20, "requests to send, alternating between the instances")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := ratelimit.ParseRate(*rate)
	if err != nil {
		return err
	}
	if *requests < 1 || *requests > 10_000 {
		return errors.New("-requests must be between 1 and 10000")
	}
	if *addr == "" {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			fmt.Fprintln(out, "redis-server is not installed: install it (apt-get install -y redis-server) or pass -redis ADDR.")
			return nil
		}
		a, stop, err := startRedis(ctx, bin)
		if err != nil {
			return err
		}
		defer stop()
		*addr = a
	}

	backend, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") }))
	if err != nil {
		return err
	}
	defer backend.Close()
	target := &url.URL{Scheme: "http", Host: backend.Addr}

	// Two gateway instances, as two processes would run them: each with its
	// own Redis client and limiter, sharing the limit by Name.
	var gateways []*http.Server
	for range 2 {
		client := redis.NewClient(&redis.Options{Addr: *addr, ContextTimeoutEnabled: true})
		defer client.Close()
		lim, err := redisrate.New(client, redisrate.Config{
			Name:      "distributed-example",
			Instances: 2,
			Limit:     ratelimit.Config{Rates: []ratelimit.Rate{r}, Key: reqkey.Global},
		})
		if err != nil {
			return err
		}
		proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
		gw, err := serve(ratelimit.Middleware(lim)(proxy))
		if err != nil {
			return err
		}
		defer gw.Close()
		gateways = append(gateways, gw)
	}

	fmt.Fprintf(out, "two gateway instances share %s through Redis at %s\n", r, *addr)
	admitted := make([]int, len(gateways))
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := range *requests {
		g := i % len(gateways)
		resp, err := hc.Get("http://" + gateways[g].Addr + "/")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			admitted[g]++
		}
		fmt.Fprintf(out, "request %2d -> instance %c: %d  RateLimit: %s\n", i+1, 'A'+g, resp.StatusCode, resp.Header.Get("RateLimit"))
	}
	fmt.Fprintf(out, "instance A admitted %d, instance B admitted %d: together %d (the shared limit's burst is %d)\n",
		admitted[0], admitted[1], admitted[0]+admitted[1], max(r.Burst, r.Count))
	return nil
}

// serve serves h on a free loopback port until the returned server is
// closed; its Addr is the address.
func serve(h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// startRedis starts redis-server without persistence on a free loopback
// port and waits until it answers. stop kills it.
func startRedis(ctx context.Context, bin string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "distributed-redis")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ping(addr) {
			return addr, stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, errors.New("redis-server did not start within 10s")
		}
	}
}

// ping reports whether a Redis server at addr answers PING.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
