package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// backend is a demo upstream started in-process on a loopback port.
type backend struct {
	name string
	srv  *http.Server
	ln   net.Listener
	hits atomic.Int64
}

// startBackends starts n demo backends on 127.0.0.1 with ephemeral ports.
func startBackends(n int) ([]*backend, error) {
	var bs []*backend
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeBackends(bs)
			return nil, err
		}
		b := &backend{name: fmt.Sprintf("backend-%d", i+1), ln: ln}
		b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = b.srv.Serve(ln) }()
		bs = append(bs, b)
	}
	return bs, nil
}

func closeBackends(bs []*backend) {
	for _, b := range bs {
		_ = b.srv.Close()
	}
}

// ServeHTTP answers with a JSON description of what the backend received.
// /slow?ms=N waits N milliseconds (at most 10 s) first; paths under
// /cached answer with Cache-Control: public, max-age=30.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := b.hits.Add(1)
	if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil && ms > 0 && r.URL.Path == "/slow" {
		select {
		case <-time.After(time.Duration(min(ms, 10000)) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", b.name)
	if len(r.URL.Path) >= 7 && r.URL.Path[:7] == "/cached" {
		w.Header().Set("Cache-Control", "public, max-age=30")
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"backend":         b.name,
		"hits":            n,
		"method":          r.Method,
		"path":            r.URL.Path,
		"query":           r.URL.RawQuery,
		"request_id":      r.Header.Get("X-Request-ID"),
		"x_forwarded_for": r.Header.Get("X-Forwarded-For"),
		"body_bytes":      len(body),
	})
}
