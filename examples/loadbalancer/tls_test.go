package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	gatetls "github.com/gatekit/gatekit/tls"
)

// TestHTTPSWithCertificateFiles runs the load balancer with -tls-cert and
// -tls-key, fetches over HTTP/2, then replaces the files and sends SIGHUP:
// new connections get the new certificate.
func TestHTTPSWithCertificateFiles(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "backend") }))
	defer backend.Close()
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "lb.crt"), filepath.Join(dir, "lb.key")
	write := func() string {
		c, err := ca.Issue(gatetls.Leaf{DNSNames: []string{"localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		certPEM, keyPEM, _ := gatetls.EncodePEM(c)
		for path, b := range map[string][]byte{keyFile: keyPEM, certFile: certPEM} {
			if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".tmp", path); err != nil {
				t.Fatal(err)
			}
		}
		return c.Leaf.SerialNumber.String()
	}
	first := write()

	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-upstreams", backend.URL, "-tls-cert", certFile, "-tls-key", keyFile}, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	url := "https://localhost:" + strconv.Itoa(addr.(*net.TCPAddr).Port) + "/"
	get := func() (proto, serial, body string) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto, resp.TLS.PeerCertificates[0].SerialNumber.String(), string(b)
	}
	if proto, serial, body := get(); proto != "HTTP/2.0" || serial != first || body != "backend" {
		t.Fatalf("got %s serial %s %q, want HTTP/2.0 serial %s \"backend\"", proto, serial, body, first)
	}
	second := write()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, serial, _ := get()
		if serial == second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %s 5 s after SIGHUP, want %s", serial, second)
		}
		time.Sleep(10 * time.Millisecond) // polling the asynchronous reload, bounded by deadline
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTLSFlagsMustComeInPairs(t *testing.T) {
	for _, args := range [][]string{
		{"-tls-cert", "x.pem"},
		{"-tls-key", "x.key"},
		{"-tls-cert", "missing.pem", "-tls-key", "missing.key"},
		{"-acme-ca", "https://127.0.0.1:1/dir"},
		{"-acme-domain", "a.test"},
		{"-tls-cert", "x.pem", "-tls-key", "x.key", "-acme-ca", "https://127.0.0.1:1/dir", "-acme-domain", "a.test"},
	} {
		args = append([]string{"-listen", "127.0.0.1:0", "-upstreams", "127.0.0.1:1"}, args...)
		if err := run(context.Background(), args, nil); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}
