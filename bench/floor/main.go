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
//
// With -server raw it does without net/http's server too: each client
// connection is a loop that reads a request with http.ReadRequest,
// forwards it the same way and writes the response by hand, with no
// per-request context, background read or response writer. That is what
// a server of gatekit's own could save per request; it is not a server
// (no timeouts, no chunked request bodies, no error responses).
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
	"strconv"
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

// exchange sends out (its URL and Host set here) to the next upstream and
// returns the response, whose body must be read and closed with done.
func (p *proxy) exchange(out *http.Request) (resp *http.Response, done func(ok bool), err error) {
	u := p.ups[p.next.Add(1)%uint64(len(p.ups))]
	c, err := u.get()
	if err != nil {
		return nil, nil, err
	}
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
	if err == nil {
		resp, err = http.ReadResponse(c.br, out)
	}
	if err != nil {
		c.c.Close()
		return nil, nil, err
	}
	return resp, func(ok bool) {
		resp.Body.Close()
		if ok && !resp.Close {
			u.put(c)
		} else {
			c.c.Close()
		}
	}, nil
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, done, err := p.exchange(r.Clone(r.Context()))
	if err != nil {
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
	done(err == nil)
}

// serveRaw forwards the requests of one client connection without
// net/http's server: GET-style requests and responses with a known length.
func (p *proxy) serveRaw(c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReaderSize(c, 4096), bufio.NewWriterSize(c, 4096)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		closeAfter := req.Close
		resp, done, err := p.exchange(req)
		if err != nil {
			bw.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			bw.Flush()
			return
		}
		bw.WriteString("HTTP/1.1 " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode) + "\r\n")
		for name, vals := range resp.Header {
			if !hopByHop[name] {
				for _, v := range vals {
					bw.WriteString(name + ": " + v + "\r\n")
				}
			}
		}
		if resp.ContentLength < 0 {
			done(false)
			return // unknown length: not handled here
		}
		if resp.Header["Content-Length"] == nil {
			bw.WriteString("Content-Length: " + strconv.FormatInt(resp.ContentLength, 10) + "\r\n")
		}
		bw.WriteString("\r\n")
		_, err = io.Copy(bw, resp.Body)
		done(err == nil)
		if err != nil || bw.Flush() != nil || closeAfter {
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	upstreams := flag.String("upstreams", "127.0.0.1:9101", "comma-separated host:port or http:// URLs")
	server := flag.String("server", "net/http", `"net/http", or "raw": a loop per connection without net/http's server`)
	flag.Parse()
	p := &proxy{}
	for _, a := range strings.Split(*upstreams, ",") {
		p.ups = append(p.ups, &upstream{addr: strings.TrimPrefix(strings.TrimSpace(a), "http://")})
	}
	if *server == "raw" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Fatal(err)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go p.serveRaw(c)
		}
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
