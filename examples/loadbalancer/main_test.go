package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-upstreams", "127.0.0.1:1", "-policy", "nope"},
		{"-upstreams", "127.0.0.1:1", "-policy", "hash"},
		{"-upstreams", "127.0.0.1:1", "-hash-key", "ip"},
		{"-upstreams", "127.0.0.1:1", "-policy", "hash", "-hash-key", "bogus"},
		{"-upstreams", "ftp://x"},
		{"-upstreams", "127.0.0.1:1", "-cpuprofile", "/nonexistent-dir/cpu.out"},
		{"-upstreams", "127.0.0.1:1", "-allocprofile", "/nonexistent-dir/allocs.out"},
	} {
		if err := run(context.Background(), args, nil); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestProxies runs the load balancer in front of two backends with each
// policy and checks that requests reach both and that it stops when its
// context is cancelled.
func TestProxies(t *testing.T) {
	rate := runtime.MemProfileRate
	var urls []string
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cacheable") != "" {
				w.Header().Set("Cache-Control", "public, max-age=60")
			}
			io.WriteString(w, name)
		}))
		defer srv.Close()
		urls = append(urls, strings.TrimPrefix(srv.URL, "http://"))
	}
	profile := filepath.Join(t.TempDir(), "cpu.out")
	allocs := filepath.Join(t.TempDir(), "allocs.out")
	for _, args := range [][]string{
		{"-policy", "round-robin"},
		{"-policy", "hash", "-hash-key", "query:user"},
		{"-policy", "least-request"},
		{"-policy", "round-robin", "-cache"},
		{"-policy", "round-robin", "-cpuprofile", profile},
		{"-policy", "round-robin", "-allocprofile", allocs},
		{"-policy", "round-robin", "-surge"},
	} {
		addr, stop := startLB(t, append([]string{"-upstreams", strings.Join(urls, ",")}, args...)...)
		seen := map[string]int{}
		for i := range 20 {
			user := "u1"
			if args[1] != "hash" {
				user = string(rune('a' + i))
			}
			resp, err := http.Get("http://" + addr.String() + "/?user=" + user)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen[string(b)]++
		}
		switch args[1] {
		case "hash":
			if len(seen) != 1 {
				t.Errorf("hash on one key spread over %v", seen)
			}
		default:
			if seen["a"] == 0 || seen["b"] == 0 {
				t.Errorf("%v: answered by %v, want both", args, seen)
			}
		}
		if len(args) > 2 && args[2] == "-cache" {
			// One cacheable URL: the first answer is stored and repeated.
			var first string
			for i := range 5 {
				resp, err := http.Get("http://" + addr.String() + "/?cacheable=1")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if i == 0 {
					first = string(b)
				} else if string(b) != first || !strings.Contains(resp.Header.Get("Cache-Status"), "hit") {
					t.Errorf("request %d: %q (Cache-Status %q), want a cache hit of %q", i, b, resp.Header.Get("Cache-Status"), first)
				}
			}
		}
		if err := stop(); err != nil {
			t.Errorf("%v: run after cancel = %v", args, err)
		}
	}
	// A pprof profile is a gzip-compressed protocol buffer.
	for flag, path := range map[string]string{"-cpuprofile": profile, "-allocprofile": allocs} {
		if b, err := os.ReadFile(path); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s wrote no profile (%d bytes, %v)", flag, len(b), err)
		}
	}
	// The allocation profile names the proxy's allocation sites (its
	// string table holds the function names).
	raw, _ := os.ReadFile(allocs)
	if zr, err := gzip.NewReader(bytes.NewReader(raw)); err != nil {
		t.Errorf("-allocprofile: %v", err)
	} else if b, err := io.ReadAll(zr); err != nil || !bytes.Contains(b, []byte("gatekit/proxy.(*Proxy).serve")) {
		t.Errorf("-allocprofile: the profile (%d bytes, %v) does not name the proxy's allocations", len(b), err)
	}
	if runtime.MemProfileRate != rate {
		t.Errorf("after -allocprofile the sampling rate is %d, want it restored to %d", runtime.MemProfileRate, rate)
	}
}

// startLB runs the load balancer with args and -listen on a free loopback
// port, and returns its address and stop, which ends the run and returns
// run's error (nil after a graceful stop). The test's end stops a run the
// test has not.
func startLB(t *testing.T, args ...string) (net.Addr, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), func(a net.Addr) { addrc <- a })
	}()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case addr := <-addrc:
		return addr, stop
	case err := <-done:
		once.Do(cancel) // run has returned: nothing to wait for
		t.Fatalf("run %v = %v", args, err)
		return nil, nil
	}
}
