package tls

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUpstreamMTLSToABackendThatRequiresClientCertificates runs a backend
// that requires a client certificate from its CA, and proxies' transports
// built from Upstream: with the client certificate the request passes and
// the backend sees its subject; after the files change and Reload, new
// connections present the new certificate; without one the handshake fails.
func TestUpstreamMTLSToABackendThatRequiresClientCertificates(t *testing.T) {
	serverCA, clientCA, dir := testCA(t), testCA(t), t.TempDir()
	backendCert := issue(t, serverCA, Leaf{DNSNames: []string{"backend.internal"}})
	backend := httpsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}), &tls.Config{Certificates: []tls.Certificate{*backendCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool()})
	url := "https://" + backend.String() + "/"

	f := writeCert(t, dir, "client", issue(t, clientCA, Leaf{CommonName: "gateway-1", Client: true}))
	up, err := NewUpstream(UpstreamConfig{RootCAs: serverCA.Pool(), ServerName: "backend.internal", CertFile: f.CertFile, KeyFile: f.KeyFile, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	get := func(u *Upstream) (string, error) {
		tr := &http.Transport{TLSClientConfig: u.TLSConfig(), ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if got, err := get(up); err != nil || got != "gateway-1" {
		t.Fatalf("with client certificate: %q, %v; want gateway-1", got, err)
	}
	writeCert(t, dir, "client", issue(t, clientCA, Leaf{CommonName: "gateway-2", Client: true}))
	if err := up.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := get(up); err != nil || got != "gateway-2" {
		t.Fatalf("after reload: %q, %v; want gateway-2", got, err)
	}
	if s := up.State(); len(s) != 1 || !strings.Contains(s[0].Issuer, "development CA") {
		t.Fatalf("State = %+v", s)
	}

	noCert, err := NewUpstream(UpstreamConfig{RootCAs: serverCA.Pool(), ServerName: "backend.internal"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(noCert); err == nil {
		t.Fatal("a transport without client certificate reached the backend")
	}
	wrongName, _ := NewUpstream(UpstreamConfig{RootCAs: serverCA.Pool(), ServerName: "other.internal"})
	if _, err := get(wrongName); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server name override to a name the backend does not hold: %v, want a verification error", err)
	}
	for _, cfg := range []UpstreamConfig{
		{CertFile: f.CertFile},
		{PollInterval: time.Second},                          // nothing to poll
		{RootCAs: serverCA.Pool(), InsecureSkipVerify: true}, // the roots would not be used
	} {
		if _, err := NewUpstream(cfg); err == nil {
			t.Errorf("NewUpstream(%+v) succeeded", cfg)
		}
	}
}
