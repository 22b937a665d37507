package tls

import (
	"crypto/tls"
	"os"
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
