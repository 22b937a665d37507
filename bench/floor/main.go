// Command floor is the least a proxy built on net/http can do per request:
// a net/http server whose handler writes each request on an idle upstream
// HTTP/1.1 connection, synchronously on its own goroutine, reads the
// response with http.ReadResponse and copies it back, round robin over the
// upstreams. It has no timeouts, retries, health or outlier accounting,
// framing guards, forwarding headers, idle-connection probe or error pages:
// it is not a proxy to deploy, only the floor gatekit's examples/loadbalancer
// is measured against, to see what its features cost per request
// (BENCHMARKS.md). It takes the flags bench/syscalls.sh and bench/run.sh
// pass to a candidate:
//
//	floor -listen 127.0.0.1:8080 -upstreams 127.0.0.1:9101,127.0.0.1:9102
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// upstream is one target and its idle connections.
type upstream struct {
	addr string
	mu   sync.Mutex
	idle []*upstreamConn
}

// upstreamConn is a connection to an upstream with its buffers.
type upstreamConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (u *upstream) get() (*upstreamConn, error) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		return c, nil
	}
	u.mu.Unlock()
	c, err := net.Dial("tcp", u.addr)
	if err != nil {
		return nil, err
	}
	return &upstreamConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func (u *upstream) put(c *upstreamConn) {
	u.mu.Lock()
	u.idle = append(u.idle, c)
	u.mu.Unlock()
}

// hopByHop are the header fields a proxy does not forward (RFC 9110 7.6.1).
var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true}

// proxy forwards every request to the next upstream in turn.
type proxy struct {
	ups  []*upstream
	next atomic.Uint64
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := p.ups[p.next.Add(1)%uint64(len(p.ups))]
	c, err := u.get()
	if err != nil {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = "http", u.addr, u.addr, ""
	for name := range out.Header {
		if hopByHop[name] {
			delete(out.Header, name)
		}
	}
	err = out.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(c.br, out)
	}
	if err != nil {
		c.c.Close()
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	for name, vals := range resp.Header {
		if !hopByHop[name] {
			w.Header()[name] = vals
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.c.Close()
		return
	}
	u.put(c)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := flag.String("upstreams", "127.0.0.1:9101", "comma-separated host:port or http:// URLs")
	flag.Parse()
	p := &proxy{}
	for _, a := range strings.Split(*upstreams, ",") {
		p.ups = append(p.ups, &upstream{addr: strings.TrimPrefix(strings.TrimSpace(a), "http://")})
	}
	srv := &http.Server{Addr: *listen, Handler: p}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
