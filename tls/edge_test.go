package tls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

func TestEdgeRefusesOldVersionsAndNonAEADSuites(t *testing.T) {
	ca := testCA(t)
	ecdsaCert := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
	rsaCert := issue(t, ca, Leaf{DNSNames: []string{"a.test"}, RSA: true})
	for _, kc := range []struct {
		name string
		cert *tls.Certificate
		gcm  uint16 // the AEAD suite for this key type
		cbc  uint16 // a non-AEAD suite for this key type
	}{
		{"ECDSA", ecdsaCert, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{"RSA", rsaCert, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
	} {
		cert := kc.cert
		edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }, EdgeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		addr := tlsServer(t, edge.TLSConfig())
		tests := []struct {
			name         string
			min, max     uint16
			suites       []uint16
			ok           bool
			wantVersion  uint16
			wantProtocol string
		}{
			{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, nil, false, 0, ""},
			{"TLS 1.1", tls.VersionTLS11, tls.VersionTLS11, nil, false, 0, ""},
			{"TLS 1.2 CBC only", tls.VersionTLS12, tls.VersionTLS12, []uint16{kc.cbc}, false, 0, ""},
			{"TLS 1.2 AEAD", tls.VersionTLS12, tls.VersionTLS12, []uint16{kc.gcm}, true, tls.VersionTLS12, "h2"},
			{"TLS 1.2 CBC and AEAD", tls.VersionTLS12, tls.VersionTLS12, []uint16{kc.cbc, kc.gcm}, true, tls.VersionTLS12, "h2"},
			{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true, tls.VersionTLS13, "h2"},
			{"any version prefers 1.3", tls.VersionTLS10, tls.VersionTLS13, nil, true, tls.VersionTLS13, "h2"},
		}
		for _, tc := range tests {
			t.Run(kc.name+"/"+tc.name, func(t *testing.T) {
				cs, err := dialTLS(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", MinVersion: tc.min, MaxVersion: tc.max,
					CipherSuites: tc.suites, NextProtos: []string{"h2", "http/1.1"}})
				if (err == nil) != tc.ok {
					t.Fatalf("handshake error = %v, want ok=%v", err, tc.ok)
				}
				if !tc.ok {
					return
				}
				if cs.Version != tc.wantVersion || cs.NegotiatedProtocol != tc.wantProtocol {
					t.Fatalf("negotiated %s %q, want %s %q", tls.VersionName(cs.Version), cs.NegotiatedProtocol, tls.VersionName(tc.wantVersion), tc.wantProtocol)
				}
				if !isAEAD(cs.CipherSuite) {
					t.Fatalf("negotiated non-AEAD suite %s", tls.CipherSuiteName(cs.CipherSuite))
				}
			})
		}
	}
}

func isAEAD(s uint16) bool {
	switch s {
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256:
		return true
	}
	for _, a := range aeadSuites {
		if a == s {
			return true
		}
	}
	return false
}

func TestEdgeWeakerOnlyThroughInsecureFields(t *testing.T) {
	ca := testCA(t)
	cert := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	edge, err := NewEdge(get, EdgeConfig{InsecureMinVersion: tls.VersionTLS11,
		InsecureCipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}})
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, edge.TLSConfig())
	cs, err := dialTLS(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11})
	if err != nil || cs.Version != tls.VersionTLS11 {
		t.Fatalf("TLS 1.1 with InsecureMinVersion: %v, version %s", err, tls.VersionName(cs.Version))
	}
	for _, bad := range []uint16{tls.VersionSSL30, tls.VersionTLS12, 0x9999} {
		if _, err := NewEdge(get, EdgeConfig{InsecureMinVersion: bad}); err == nil {
			t.Errorf("NewEdge accepted InsecureMinVersion %#x", bad)
		}
	}
	if _, err := NewEdge(nil, EdgeConfig{}); err == nil {
		t.Error("NewEdge accepted a nil getCertificate")
	}
	if _, err := NewEdge(get, EdgeConfig{Hosts: []HostPolicy{{Hosts: []string{"a.test"}, ClientAuth: RequireClientCert}}}); err == nil {
		t.Error("NewEdge accepted a client-certificate policy without ClientCAs")
	}
	dup := []HostPolicy{{Hosts: []string{"a.test"}}, {Hosts: []string{"A.test"}}}
	if _, err := NewEdge(get, EdgeConfig{Hosts: dup}); err == nil {
		t.Error("NewEdge accepted a host in two policies")
	}
	if _, err := NewEdge(get, EdgeConfig{Hosts: []HostPolicy{{Hosts: []string{"a.test"}, ClientCAs: x509.NewCertPool()}}}); err == nil {
		t.Error("NewEdge accepted ClientCAs on a policy that asks for no client certificate (the CAs would be ignored)")
	}
	if _, err := NewEdge(get, EdgeConfig{Hosts: []HostPolicy{{ClientAuth: RequireClientCert, ClientCAs: x509.NewCertPool()}}}); err == nil {
		t.Error("NewEdge accepted a policy that covers no host")
	}
}

func TestSessionsResumeAcrossCertificateReload(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			ca, dir := testCA(t), t.TempDir()
			first := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
			f := writeCert(t, dir, "a", first)
			m, err := NewManager(Config{CertFile: f.CertFile, KeyFile: f.KeyFile, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			addr := tlsServer(t, m.TLSConfig())
			client := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", MaxVersion: version, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
			cs, err := dialTLS(addr, client)
			if err != nil || cs.DidResume {
				t.Fatalf("first handshake: %v, resumed %v", err, cs.DidResume)
			}
			second := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
			writeCert(t, dir, "a", second)
			if err := m.Reload(); err != nil {
				t.Fatal(err)
			}
			cs, err = dialTLS(addr, client)
			if err != nil || !cs.DidResume {
				t.Fatalf("handshake after reload: %v, resumed %v; want a resumed session", err, cs.DidResume)
			}
			// A fresh client sees the new certificate.
			cs, err = dialTLS(addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test", MaxVersion: version})
			if err != nil || cs.PeerCertificates[0].SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
				t.Fatalf("new client: %v, serial %x; want %s", err, cs.PeerCertificates[0].SerialNumber, serialOf(second))
			}
		})
	}
}

func TestResumedSessionIsCheckedAgainstTheHostsClientCAs(t *testing.T) {
	caA, caB := testCA(t), testCA(t)
	srv := issue(t, caA, Leaf{DNSNames: []string{"a.test", "b.test"}})
	edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return srv, nil }, EdgeConfig{Hosts: []HostPolicy{
		{Hosts: []string{"a.test"}, ClientAuth: RequireClientCert, ClientCAs: caA.Pool()},
		{Hosts: []string{"b.test"}, ClientAuth: RequireClientCert, ClientCAs: caB.Pool()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, edge.TLSConfig())
	clientA := issue(t, caA, Leaf{CommonName: "client-a", Client: true})
	cache := tls.NewLRUClientSessionCache(8)
	conf := func(sni string) *tls.Config {
		return &tls.Config{RootCAs: caA.Pool(), ServerName: sni, Certificates: []tls.Certificate{*clientA}, ClientSessionCache: cache, MaxVersion: tls.VersionTLS12}
	}
	if _, err := dialTLS(addr, conf("a.test")); err != nil {
		t.Fatal("client of CA A on a.test:", err)
	}
	if cs, err := dialTLS(addr, conf("a.test")); err != nil || !cs.DidResume {
		t.Fatalf("resuming on a.test: %v, resumed %v", err, cs.DidResume)
	}
	// The session cache is keyed by server name, so move the a.test
	// session under b.test's key to replay it there.
	s, _ := cache.Get("a.test")
	cache.Put("b.test", s)
	if _, err := dialTLS(addr, conf("b.test")); err == nil {
		t.Fatal("a session verified for CA A resumed on b.test, which trusts CA B only")
	}
}

func BenchmarkHandshake(b *testing.B) {
	ca := testCA(b)
	for _, kc := range []struct {
		name string
		rsa  bool
	}{{"ECDSA-P256", false}, {"RSA-2048", true}} {
		cert := issue(b, ca, Leaf{DNSNames: []string{"a.test"}, RSA: kc.rsa})
		edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }, EdgeConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for _, resumed := range []bool{false, true} {
			name := kc.name + "/full"
			client := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.test"}
			if resumed {
				name = kc.name + "/resumed"
				client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				if resumed { // fill the session cache
					if _, err := pipeHandshake(edge.TLSConfig(), client); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				for b.Loop() {
					didResume, err := pipeHandshake(edge.TLSConfig(), client)
					if err != nil {
						b.Fatal(err)
					}
					if didResume != resumed {
						b.Fatalf("DidResume = %v, want %v", didResume, resumed)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
			})
		}
	}
}

// pipeHandshake runs one client and server handshake over an in-memory
// connection, then has the client read the server's first byte so that
// TLS 1.3 session tickets reach the client's cache. It reports whether the
// session was resumed.
func pipeHandshake(server, client *tls.Config) (bool, error) {
	cc, sc := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(sc, server)
		err := s.Handshake()
		if err == nil {
			_, err = s.Write([]byte{1})
		}
		sc.Close() // no close_notify: on an unbuffered pipe both ends would block writing it
		errc <- err
	}()
	c := tls.Client(cc, client)
	err := c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	resumed := c.ConnectionState().DidResume
	cc.Close()
	return resumed, errors.Join(err, <-errc)
}
