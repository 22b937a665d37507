package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

	addr, stop := startLB(t, "-upstreams", backend.URL, "-tls-cert", certFile, "-tls-key", keyFile)
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
	if err := stop(); err != nil {
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

// TestHTTPSWithACME runs the load balancer with -acme-ca against a pebble
// ACME CA started on loopback (challenges always valid) and waits until it
// serves the obtained certificate. It skips without pebble.
func TestHTTPSWithACME(t *testing.T) {
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Skip("pebble not installed: apt-get install -y pebble")
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "backend") }))
	defer backend.Close()
	dir := t.TempDir()
	ca, _ := gatetls.NewDevCA()
	listenCert, _ := ca.Issue(gatetls.Leaf{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	certPEM, keyPEM, _ := gatetls.EncodePEM(listenCert)
	files := map[string][]byte{"pebble.crt": certPEM, "pebble.key": keyPEM, "ca.pem": ca.CertPEM()}
	ports := make([]int, 4)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	listen := "127.0.0.1:" + strconv.Itoa(ports[0])
	files["pebble.json"], _ = json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": "127.0.0.1:" + strconv.Itoa(ports[1]),
		"certificate": filepath.Join(dir, "pebble.crt"), "privateKey": filepath.Join(dir, "pebble.key"),
		"httpPort": ports[2], "tlsPort": ports[3],
	}})
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) { // waiting for pebble to listen, bounded
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatal("pebble is not listening after 15 s")
		}
	}

	addr, stop := startLB(t, "-upstreams", backend.URL,
		"-acme-ca", "https://"+listen+"/dir", "-acme-ca-root", filepath.Join(dir, "ca.pem"),
		"-acme-domain", "lb.test", "-acme-storage", filepath.Join(dir, "acme"))
	// pebble's issuing root is not fetched here: the test checks the name
	// and the issuer, and the tls package's tests verify pebble's chains.
	conf := &tls.Config{ServerName: "lb.test", InsecureSkipVerify: true}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := tls.Dial("tcp", addr.String(), conf)
		if err == nil {
			leaf := c.ConnectionState().PeerCertificates[0]
			c.Close()
			if leaf.VerifyHostname("lb.test") == nil && strings.Contains(leaf.Issuer.CommonName, "Pebble") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ACME certificate for lb.test served within 60 s (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond) // polling the asynchronous issuance, bounded by deadline
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
