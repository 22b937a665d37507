package tls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pebble is a Debian pebble ACME test CA run by a test on loopback.
type pebble struct {
	dir   string         // ACME directory URL
	mgmt  string         // management API base URL
	roots *x509.CertPool // verifies pebble's own HTTPS listeners
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPebble runs pebble with its own development certificate for
// 127.0.0.1, validating HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort,
// resolving names through dnsServer if set, with env added to its
// environment. It skips the test when pebble is not installed.
func startPebble(t *testing.T, httpPort, tlsPort int, dnsServer string, env ...string) *pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Skip("pebble not installed: apt-get install -y pebble")
	}
	ca, dir := testCA(t), t.TempDir()
	listenCert, err := ca.Issue(Leaf{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f := writeCert(t, dir, "pebble", listenCert)
	listen, mgmt := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": f.CertFile, "privateKey": f.KeyFile,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	confFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-config", confFile}
	if dnsServer != "" {
		args = append(args, "-dnsserver", dnsServer)
	}
	p := &pebble{dir: "https://" + listen + "/dir", mgmt: "https://" + mgmt, roots: ca.Pool()}
	runDaemon(t, bin, args, append([]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, env...), listen)
	return p
}

// runDaemon starts bin and waits until addr accepts connections; the
// process is killed when the test ends.
func runDaemon(t *testing.T, bin string, args, env []string, addr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 15 s: %v\n%s", bin, addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start, bounded by deadline
	}
}

// issuingRoots fetches the roots pebble issues certificates under.
func (p *pebble) issuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no root in pebble's /roots/0: %q", b)
	}
	return pool
}

// syncBuffer is a bytes buffer safe for a process's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// switchProxy forwards loopback TCP connections to target while up. Going
// down closes the connections it carries and every new one at once, as an
// unreachable CA would.
type switchProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	// mu guards down and conns.
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true)
		p.wg.Wait()
	})
	return p
}

// setDown switches the proxy; going down closes the open connections.
func (p *switchProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// track registers c, or closes it and reports false while down.
func (p *switchProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *switchProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *switchProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
			if err != nil {
				return
			}
			if !p.track(u) {
				return
			}
			defer p.untrack(u)
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(u, c)
				u.Close()
				close(done)
			}()
			_, _ = io.Copy(c, u)
			c.Close()
			<-done
		}()
	}
}

func (p *switchProxy) addr() string { return p.ln.Addr().String() }

// acmeServe serves a's HTTP-01 handler (behind the HTTPS redirect) on
// httpPort and a's TLS configuration on tlsPort until the test ends, and
// returns the TLS address.
func acmeServe(t *testing.T, a *ACME, httpPort, tlsPort int) string {
	t.Helper()
	httpLn, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: RedirectHTTPS(RedirectConfig{ACME: a.HTTPChallengeHandler(http.NotFoundHandler())}), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(httpLn)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return tlsServerOn(t, fmt.Sprintf("127.0.0.1:%d", tlsPort), a.TLSConfig())
}

// withTimeout returns a context bounded by d for the test.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
