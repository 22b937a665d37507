package metrics

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	gatetls "github.com/gatekit/gatekit/tls"
)

func TestTLSReportsExpiryPerName(t *testing.T) {
	m := mustNew(t, Config{})
	exp := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	states := []gatetls.CertState{
		{Source: "file:a.pem", Names: []string{"example.com", "*.example.com"}, NotAfter: exp},
		{Source: "file:b.pem", Names: []string{"api.test"}, NotAfter: exp.Add(time.Hour), LastError: errors.New("key does not match")},
		{Source: "acme:x", Names: []string{"pending.test"}},
	}
	if err := m.AddTLS("edge", func() []gatetls.CertState { return states }); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_tls_certificate_expiry_timestamp_seconds{name="example.com",source="edge"}`:   float64(exp.Unix()),
		`gatekit_tls_certificate_expiry_timestamp_seconds{name="*.example.com",source="edge"}`: float64(exp.Unix()),
		`gatekit_tls_certificate_expiry_timestamp_seconds{name="api.test",source="edge"}`:      float64(exp.Add(time.Hour).Unix()),
		`gatekit_tls_certificate_last_reload_failed{certificate="api.test",source="edge"}`:     1,
		`gatekit_tls_certificate_last_reload_failed{certificate="example.com",source="edge"}`:  0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if _, ok := got[`gatekit_tls_certificate_expiry_timestamp_seconds{name="pending.test",source="edge"}`]; ok {
		t.Error("a name without a certificate yet has an expiry")
	}
}

func TestTLSFromARealManager(t *testing.T) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(gatetls.Leaf{DNSNames: []string{"gw.test"}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := gatetls.EncodePEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mgr, err := gatetls.NewManager(gatetls.Config{CertFile: certFile, KeyFile: keyFile, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	m := mustNew(t, Config{})
	if err := m.AddTLS("files", mgr.State); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, m)[`gatekit_tls_certificate_expiry_timestamp_seconds{name="gw.test",source="files"}`]
	x509Leaf, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(x509Leaf.NotAfter.Unix()); got != want {
		t.Errorf("expiry of gw.test = %v, want %v", got, want)
	}
}
