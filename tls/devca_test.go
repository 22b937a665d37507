package tls

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestDevCAIssuesVerifiableLeavesOnDemand(t *testing.T) {
	ca := testCA(t)
	tests := []struct {
		sni      string
		verifyAs string
	}{
		{"app.localhost", "app.localhost"},
		{"", "localhost"},
		{"", "127.0.0.1"},
		{"10.1.2.3", "10.1.2.3"},
	}
	for _, tc := range tests {
		c, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: tc.verifyAs}); err != nil {
			t.Errorf("leaf for SNI %q does not verify as %q: %v", tc.sni, tc.verifyAs, err)
		}
		again, _ := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		if again != c {
			t.Errorf("GetCertificate(%q) issued a second leaf instead of reusing the first", tc.sni)
		}
	}
	if _, err := ca.Issue(Leaf{}); err == nil {
		t.Error("Issue accepted a leaf that names nothing")
	}
	client, err := ca.Issue(Leaf{CommonName: "svc", Client: true, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 9)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client leaf does not verify for client auth: %v", err)
	}
	certPEM, keyPEM := pemOf(t, client)
	if p, err := parsePair(certPEM, keyPEM, time.Now(), false); err != nil || p.cert.Leaf.Subject.CommonName != "svc" {
		t.Errorf("EncodePEM output does not load back: %v", err)
	}
}

// TestDevCARenewsCachedNamesWhenFull checks GetCertificate's bound: once it
// caches as many names as it may, a new name is refused, while a name it
// already holds still gets a fresh leaf when its cached one expires.
func TestDevCARenewsCachedNamesWhenFull(t *testing.T) {
	ca := testCA(t)
	expired, err := ca.IssueAt(time.Now().Add(-30*24*time.Hour), Leaf{DNSNames: []string{"old.localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	ca.mu.Lock()
	ca.leaves["old.localhost"] = expired
	for i := 0; len(ca.leaves) < maxDevLeaves; i++ {
		ca.leaves["n"+strconv.Itoa(i)+".localhost"] = expired
	}
	ca.mu.Unlock()
	if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "new.localhost"}); err == nil {
		t.Error("a full DevCA issued a leaf for a new name")
	}
	c, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "old.localhost"})
	if err != nil {
		t.Fatalf("a full DevCA refused to renew a name it holds: %v", err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "old.localhost"}); err != nil {
		t.Errorf("renewed leaf does not verify now: %v", err)
	}
}
