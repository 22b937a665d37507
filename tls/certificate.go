package tls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Errors returned when a certificate pair is rejected; callers test them
// with errors.Is on the error of NewManager, Manager.Reload or NewUpstream.
var (
	// ErrNoNames means the leaf certificate names no host: it has no DNS or
	// IP subject alternative name, so SNI can never select it (the subject
	// common name is ignored, as browsers and Go do).
	ErrNoNames = errors.New("tls: certificate serves no name (no DNS or IP subject alternative name)")
	// ErrExpired means the leaf certificate is outside its validity period.
	ErrExpired = errors.New("tls: certificate is outside its validity period")
	// ErrChain means the certificates after the leaf do not form a chain:
	// one of them did not sign the certificate before it.
	ErrChain = errors.New("tls: certificate chain does not link")
)

// pair is a validated certificate and key, ready to serve. It is immutable
// once built, so handshakes read it without locks.
type pair struct {
	cert  *tls.Certificate // Leaf is set
	names []string         // lowercased DNS names (wildcards kept as "*.x") and IP addresses
	hash  [sha256.Size]byte
}

// parsePair validates a PEM certificate chain and private key at now: the
// key matches the leaf, every certificate parses, each chain certificate
// signed the one before it, now lies within the leaf's validity and, when
// needNames is set, the leaf names at least one DNS name or IP address.
func parsePair(certPEM, keyPEM []byte, now time.Time, needNames bool) (*pair, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate and key: %w", err)
	}
	chain := make([]*x509.Certificate, len(c.Certificate))
	for i, der := range c.Certificate {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("tls: certificate %d of the chain: %w", i, err)
		}
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("%w: certificate %d was not signed by certificate %d: %v", ErrChain, i, i+1, err)
		}
	}
	leaf := chain[0]
	c.Leaf = leaf
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: valid %s to %s, now %s", ErrExpired,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	names := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses))
	for _, n := range leaf.DNSNames {
		if n = normalizeName(n); n != "" {
			names = append(names, n)
		}
	}
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if needNames && len(names) == 0 {
		return nil, ErrNoNames
	}
	return &pair{cert: &c, names: names, hash: pairHash(certPEM, keyPEM)}, nil
}

// pairHash identifies the contents of a certificate and key file together.
func pairHash(certPEM, keyPEM []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// normalizeName lowercases a host name and drops one trailing dot and any
// port; it returns name itself (no allocation) when it is already normal.
func normalizeName(name string) string {
	if strings.IndexByte(name, ':') >= 0 {
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		} else if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
			name = name[1 : len(name)-1]
		}
	}
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
}

// CertState describes one certificate as it is served, for operations code
// (status pages, metrics, alerts on an approaching NotAfter).
type CertState struct {
	// Source says where the certificate comes from: "file:<cert path>",
	// "acme:<directory URL>" or "dev".
	Source string
	// Names are the DNS names and IP addresses the certificate serves.
	Names []string
	// Issuer is the issuer's distinguished name.
	Issuer string
	// Serial is the leaf's serial number in hexadecimal.
	Serial string
	// NotBefore and NotAfter bound the leaf's validity.
	NotBefore, NotAfter time.Time
	// Default reports whether this certificate answers clients that send
	// no SNI or a name no certificate serves.
	Default bool
	// LastAttempt is when the certificate was last (re)loaded, renewed or
	// obtained, successfully or not; LastSuccess when that last worked.
	LastAttempt, LastSuccess time.Time
	// LastError is the reason the last attempt failed, nil if it worked.
	// While it is set, the previous certificate is still the one served.
	LastError error
}

// stateOf fills the certificate fields of a CertState from p (which may be
// nil while no certificate has been obtained yet).
func stateOf(p *pair, source string) CertState {
	s := CertState{Source: source}
	if p == nil {
		return s
	}
	leaf := p.cert.Leaf
	s.Names = append([]string(nil), p.names...)
	s.Issuer = leaf.Issuer.String()
	s.Serial = hex.EncodeToString(leaf.SerialNumber.Bytes())
	s.NotBefore, s.NotAfter = leaf.NotBefore, leaf.NotAfter
	return s
}

// sameLeaf reports whether a and b serve the same leaf certificate.
func sameLeaf(a, b *tls.Certificate) bool {
	return a != nil && b != nil && len(a.Certificate) > 0 && len(b.Certificate) > 0 &&
		bytes.Equal(a.Certificate[0], b.Certificate[0])
}
