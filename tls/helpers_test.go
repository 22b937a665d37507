package tls

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// t0 is the fixed instant unit tests validate certificates at.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCA returns a development CA valid at t0 and at the real now.
func testCA(t testing.TB) *DevCA {
	t.Helper()
	ca, err := NewDevCAAt(t0.Add(-24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a leaf valid from t0 for a year, so that it is valid both at
// t0 and at the real now during the lifetime of this code.
func issue(t testing.TB, ca *DevCA, l Leaf) *tls.Certificate {
	t.Helper()
	if l.Validity == 0 {
		l.Validity = 5 * 365 * 24 * time.Hour
	}
	c, err := ca.IssueAt(t0, l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pemOf encodes c.
func pemOf(t testing.TB, c *tls.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := EncodePEM(c)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// writeFiles writes certPEM and keyPEM under dir as name.crt and name.key,
// each by an atomic rename, and returns the paths.
func writeFiles(t testing.TB, dir, name string, certPEM, keyPEM []byte) CertificateFiles {
	t.Helper()
	f := CertificateFiles{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key")}
	for path, b := range map[string][]byte{f.CertFile: certPEM, f.KeyFile: keyPEM} {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// writeCert writes c's PEM under dir; see writeFiles.
func writeCert(t testing.TB, dir, name string, c *tls.Certificate) CertificateFiles {
	t.Helper()
	certPEM, keyPEM := pemOf(t, c)
	return writeFiles(t, dir, name, certPEM, keyPEM)
}

// serialOf returns the serial of the leaf c serves, in hex.
func serialOf(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return "<none>"
	}
	return c.Leaf.SerialNumber.Text(16)
}

// hello returns a ClientHelloInfo with server name sni.
func hello(sni string) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{ServerName: sni} }

// tlsServer serves conf on a loopback listener until the test ends; each
// connection completes its handshake, writes one byte and waits for the
// client to close.
func tlsServer(t testing.TB, conf *tls.Config) string {
	t.Helper()
	return tlsServerOn(t, "127.0.0.1:0", conf)
}

// tlsServerOn is tlsServer on the address addr.
func tlsServerOn(t testing.TB, addr string, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
					_, _ = c.Read(make([]byte, 1)) // until the client closes
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dialTLS handshakes with addr and returns the connection state after
// reading the server's byte.
func dialTLS(addr string, conf *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

// httpsServer serves h with conf (HTTP/2 and HTTP/1.1) on a loopback
// listener until the test ends. It is not httptest.Server, which adds its
// own certificate to the configuration and so answers clients without SNI
// with it.
func httpsServer(t testing.TB, h http.Handler, conf *tls.Config) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: conf, ErrorLog: log.New(io.Discard, "", 0), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr)
}
