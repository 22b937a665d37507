package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRotationUnderLoad replaces the certificate files every 200 ms while
// clients make new connections continuously. Some rotations are broken (a
// key that does not match, an expired certificate) and some are written in
// place in two halves, so the watcher sees the half-written file. No
// handshake may fail, every good rotation must be served within one second,
// and a broken pair's serial must never reach a client.
func TestRotationUnderLoad(t *testing.T) {
	ca, dir := testCA(t), t.TempDir()
	newLeaf := func(validity time.Duration) *tls.Certificate {
		c, err := ca.Issue(Leaf{DNSNames: []string{"a.test"}, Validity: validity})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := newLeaf(time.Hour)
	f := writeCert(t, dir, "a", first)
	m, err := NewManager(Config{CertFile: f.CertFile, KeyFile: f.KeyFile, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := tlsServer(t, m.TLSConfig())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}

	var (
		mu       sync.Mutex
		seen     = map[string]bool{}
		handshak atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cs, err := dialTLS(addr, client)
				handshak.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mu.Lock()
				seen[cs.PeerCertificates[0].SerialNumber.Text(16)] = true
				mu.Unlock()
			}
		}()
	}

	broken := map[string]bool{}
	const rotations = 12
	for i := range rotations {
		start := time.Now()
		good := newLeaf(time.Hour)
		certPEM, keyPEM := pemOf(t, good)
		switch i % 4 {
		case 1: // the new certificate with the key of another pair
			mismatched := newLeaf(time.Hour)
			mc, _ := pemOf(t, mismatched)
			broken[serialOf(mismatched)] = true
			writeFiles(t, dir, "a", mc, keyPEM)
		case 2: // an expired certificate with its own key
			expired := newLeaf(-time.Minute)
			ec, ek := pemOf(t, expired)
			broken[serialOf(expired)] = true
			writeFiles(t, dir, "a", ec, ek)
		case 3: // written in place, the certificate in two halves, the key last
			inPlace(t, f.CertFile, certPEM[:len(certPEM)/3])
			time.Sleep(60 * time.Millisecond) // let the watcher read the half-written file
			inPlace(t, f.CertFile, certPEM)
			inPlace(t, f.KeyFile, keyPEM)
		default: // atomic renames, the certificate first
			writeFiles(t, dir, "a", certPEM, keyPEM)
		}
		if i%4 == 1 || i%4 == 2 {
			// The broken files stay for a while, then the good pair follows.
			time.Sleep(100 * time.Millisecond)
			writeFiles(t, dir, "a", certPEM, keyPEM)
		}
		want := serialOf(good)
		deadline := time.Now().Add(time.Second)
		for {
			mu.Lock()
			ok := seen[want]
			mu.Unlock()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d: serial %s not served within 1 s of its files being complete", i, want)
			}
			time.Sleep(5 * time.Millisecond) // polling the clients' observations, bounded by deadline
		}
		if rest := 200*time.Millisecond - time.Since(start); rest > 0 {
			time.Sleep(rest) // pace the rotations
		}
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d handshakes failed; first: %v", n, handshak.Load(), firstErr.Load())
	}
	for s := range broken {
		if seen[s] {
			t.Fatalf("broken pair with serial %s was served", s)
		}
	}
	if st := m.State()[0]; st.LastError != nil {
		t.Fatalf("State after the last good rotation has error %v", st.LastError)
	}
	t.Logf("%d handshakes, %d rotations, %d broken pairs rejected", handshak.Load(), rotations, len(broken))
}

// inPlace overwrites path without a rename, as editors and some deploy tools do.
func inPlace(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestACMEObtainsWithEachChallenge obtains a certificate from pebble with
// real challenge validation: pebble resolves the name through
// pebble-challtestsrv to 127.0.0.1 and fetches the HTTP-01 token from the
// gateway's port 80 handler, or makes the TLS-ALPN-01 handshake with the
// gateway's TLS listener. The certificate served afterwards verifies to
// pebble's root.
func TestACMEObtainsWithEachChallenge(t *testing.T) {
	challtest, err := exec.LookPath("pebble-challtestsrv")
	if err != nil {
		t.Skip("pebble-challtestsrv not installed: apt-get install -y pebble")
	}
	dns, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	runDaemon(t, challtest, []string{"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", dns,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", mgmt}, nil, mgmt)
	httpPort, tlsPort := freePort(t), freePort(t)
	ca := startPebble(t, httpPort, tlsPort, dns)
	issuing := ca.issuingRoots(t)
	for _, tc := range []struct {
		challenge string
		cfg       ACMEConfig
	}{
		{"http-01", ACMEConfig{Domains: []string{"http01.test"}, DisableTLSALPNChallenge: true}},
		{"tls-alpn-01", ACMEConfig{Domains: []string{"alpn.test"}, DisableHTTPChallenge: true}},
	} {
		t.Run(tc.challenge, func(t *testing.T) {
			cfg := tc.cfg
			cfg.CA, cfg.TrustedRoots, cfg.StorageDir = ca.dir, ca.roots, t.TempDir()
			if !cfg.DisableHTTPChallenge {
				cfg.HTTPPort = httpPort
			}
			if !cfg.DisableTLSALPNChallenge {
				cfg.TLSALPNPort = tlsPort
			}
			a, err := NewACME(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			addr := acmeServe(t, a, httpPort, tlsPort)
			if err := a.Manage(withTimeout(t, 60*time.Second)); err != nil {
				t.Fatal(err)
			}
			name := cfg.Domains[0]
			if _, err := dialTLS(addr, &tls.Config{RootCAs: issuing, ServerName: name}); err != nil {
				t.Fatalf("handshake for %s with pebble's root: %v", name, err)
			}
			st := a.State()
			if len(st) != 1 || st[0].Serial == "" || st[0].LastError != nil || st[0].LastSuccess.IsZero() || st[0].NotAfter.IsZero() {
				t.Fatalf("State = %+v", st)
			}
		})
	}
}

// TestACMERenewalSurvivesCAOutage obtains a certificate from pebble
// (reached through a proxy the test can cut), sees it renewed
// automatically, then cuts the CA off: the current certificate keeps being
// served, the failure is reported in State, and after the failed attempt
// no further attempt is made while the backoff lasts, although renewal is
// checked every 100 ms. With the CA back, a forced renewal succeeds and
// its certificate is served.
func TestACMERenewalSurvivesCAOutage(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	ca := startPebble(t, httpPort, tlsPort, "", "PEBBLE_VA_ALWAYS_VALID=1")
	proxy := newSwitchProxy(t, ca.dir[len("https://"):len(ca.dir)-len("/dir")])
	// certmagic keeps its renewal backoff per name for the whole process,
	// so each run of this test (-count) uses a name of its own.
	name := fmt.Sprintf("renew-%d.test", time.Now().UnixNano())
	a, err := NewACME(ACMEConfig{
		CA: "https://" + proxy.addr() + "/dir", TrustedRoots: ca.roots, StorageDir: t.TempDir(),
		Domains:            []string{name},
		RenewCheckInterval: 100 * time.Millisecond,
		RenewalWindowRatio: 2, // always due: every check renews
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := acmeServe(t, a, httpPort, tlsPort)
	if err := a.Manage(withTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	issuing := ca.issuingRoots(t)
	client := &tls.Config{RootCAs: issuing, ServerName: name}
	served := func() string {
		t.Helper()
		cs, err := dialTLS(addr, client)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return cs.PeerCertificates[0].SerialNumber.Text(16)
	}
	until := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; State %+v", what, d, a.State())
			}
			time.Sleep(20 * time.Millisecond) // polling asynchronous renewal, bounded by deadline
		}
	}

	first := served()
	until("automatic renewal", 30*time.Second, func() bool { return served() != first })

	proxy.setDown(true)
	until("a failed renewal while the CA is unreachable", 30*time.Second, func() bool { return a.State()[0].LastError != nil })
	during := served()
	attempts := a.renewalAttempts(name)
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if s := served(); s != during {
			t.Fatalf("served %s during the outage, want the current %s", s, during)
		}
	}
	if n := a.renewalAttempts(name); n != attempts {
		t.Fatalf("%d renewal attempts in the second after a failure (checks every 100 ms), want none: no backoff", n-attempts)
	}

	proxy.setDown(false)
	if err := a.Renew(withTimeout(t, 60*time.Second)); err != nil {
		t.Fatalf("forced renewal with the CA back: %v", err)
	}
	if s := served(); s == during {
		t.Fatalf("still serving %s after a successful renewal", s)
	}
	if st := a.State()[0]; st.LastError != nil || st.Serial == during {
		t.Fatalf("State after recovery = %+v", st)
	}
}

// TestACMEOnDemandHonoursAllowAndRate obtains certificates during
// handshakes for names Allow accepts, up to the rate cap; other names fail
// their handshake without an order at the CA.
func TestACMEOnDemandHonoursAllowAndRate(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	ca := startPebble(t, httpPort, tlsPort, "", "PEBBLE_VA_ALWAYS_VALID=1")
	var asked atomic.Int64
	a, err := NewACME(ACMEConfig{CA: ca.dir, TrustedRoots: ca.roots, StorageDir: t.TempDir(),
		OnDemand: &OnDemandPolicy{Rate: 1, Interval: time.Hour, Allow: func(_ context.Context, name string) error {
			asked.Add(1)
			if strings.HasSuffix(name, ".tenants.test") {
				return nil
			}
			return errors.New("not a tenant")
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := acmeServe(t, a, httpPort, tlsPort)
	issuing := ca.issuingRoots(t)
	for _, tc := range []struct {
		sni string
		ok  bool
	}{
		{"one.tenants.test", true},
		{"one.tenants.test", true},  // cached: no new order
		{"two.tenants.test", false}, // over the rate of 1 per hour
		{"evil.test", false},        // not allowed
	} {
		_, err := dialTLS(addr, &tls.Config{RootCAs: issuing, ServerName: tc.sni})
		if (err == nil) != tc.ok {
			t.Fatalf("handshake for %s: %v, want ok=%v", tc.sni, err, tc.ok)
		}
	}
	if st := a.State(); len(st) != 1 || st[0].Names[0] != "one.tenants.test" || st[0].Default || st[0].Serial == "" {
		t.Fatalf("State = %+v, want the one on-demand certificate", st)
	}
}
