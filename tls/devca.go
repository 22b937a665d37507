package tls

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"sync"
	"time"
)

// DefaultLeafValidity is the validity of a development leaf certificate when
// Leaf.Validity is zero.
const DefaultLeafValidity = 7 * 24 * time.Hour

// maxDevLeaves bounds the leaves a DevCA caches for GetCertificate, so that
// clients sending arbitrary SNI cannot grow it without limit.
const maxDevLeaves = 1024

// DevCA is a local certificate authority for development and tests: it
// issues leaf certificates on demand so that HTTPS (and HTTP/2) works on a
// laptop without a public CA. Nothing in this package uses a DevCA unless
// it is passed in explicitly. Its key lives only in memory; clients trust it
// through Pool or CertPEM (curl --cacert).
//
// A DevCA is safe for concurrent use.
type DevCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	pool    *x509.CertPool

	// mu guards leaves.
	mu     sync.Mutex
	leaves map[string]*tls.Certificate // GetCertificate's leaves by server name
}

// Leaf describes a certificate for DevCA.Issue to sign.
type Leaf struct {
	// DNSNames, IPAddresses and URIs are the subject alternative names.
	// URIs carry SPIFFE IDs (spiffe://trust-domain/path) for workloads.
	DNSNames    []string
	IPAddresses []net.IP
	URIs        []*url.URL
	// CommonName is the subject common name, informational only.
	CommonName string
	// Client makes a client certificate (extended key usage clientAuth)
	// instead of a server certificate.
	Client bool
	// RSA selects an RSA 2048 key instead of ECDSA P-256.
	RSA bool
	// Validity is how long the certificate is valid from the issuing
	// instant. If zero, DefaultLeafValidity; negative gives a certificate
	// that has already expired (for tests of rejection).
	Validity time.Duration
}

// NewDevCA creates a CA with a fresh ECDSA P-256 key, valid for ten years
// from now.
func NewDevCA() (*DevCA, error) { return NewDevCAAt(time.Now()) }

// NewDevCAAt is NewDevCA with the CA's validity starting an hour before now.
func NewDevCAAt(now time.Time) (*DevCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "gatekit development CA", Organization: []string{"gatekit development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &DevCA{
		cert: cert, key: key, pool: pool,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		leaves:  make(map[string]*tls.Certificate),
	}, nil
}

// Certificate returns the CA certificate. It must not be modified.
func (ca *DevCA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a pool holding only the CA certificate, for clients'
// RootCAs or a server's ClientCAs. It must not be modified.
func (ca *DevCA) Pool() *x509.CertPool { return ca.pool }

// CertPEM returns the CA certificate in PEM, for curl --cacert and
// browsers. The caller may modify the returned slice.
func (ca *DevCA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Issue signs a new leaf certificate valid from now. See IssueAt.
func (ca *DevCA) Issue(l Leaf) (*tls.Certificate, error) { return ca.IssueAt(time.Now(), l) }

// IssueAt signs a new leaf with a fresh key and a random serial, valid from
// a minute before now (for clock skew) for l.Validity. The returned
// certificate's chain is the leaf then the CA, and Leaf is set. It returns
// an error when l names nothing (no SAN and no common name).
func (ca *DevCA) IssueAt(now time.Time, l Leaf) (*tls.Certificate, error) {
	if len(l.DNSNames)+len(l.IPAddresses)+len(l.URIs) == 0 && l.CommonName == "" {
		return nil, errors.New("tls: DevCA.Issue: the leaf names nothing")
	}
	var key crypto.Signer
	var err error
	if l.RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	validity := cmp.Or(l.Validity, DefaultLeafValidity)
	notBefore, notAfter := now.Add(-time.Minute), now.Add(validity)
	if validity < 0 {
		notBefore = now.Add(2 * validity)
	}
	usage := x509.ExtKeyUsageServerAuth
	if l.Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	keyUsage := x509.KeyUsageDigitalSignature
	if l.RSA {
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: l.CommonName},
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPAddresses,
		URIs:         l.URIs,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     keyUsage,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("tls: DevCA.Issue: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// GetCertificate issues (once, then caches) a server certificate for the
// client's server name, or for "localhost", 127.0.0.1 and ::1 when the
// client sends no SNI. It has the signature of tls.Config.GetCertificate.
// It caches up to 1024 names and then refuses new ones with an error; a
// name it holds is renewed within an hour of its leaf's expiry.
func (ca *DevCA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := normalizeName(hello.ServerName)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	c := ca.leaves[name]
	if c != nil && time.Now().Before(c.Leaf.NotAfter.Add(-time.Hour)) {
		return c, nil
	}
	if c == nil && len(ca.leaves) >= maxDevLeaves {
		return nil, errors.New("tls: DevCA: too many server names")
	}
	l := Leaf{DNSNames: []string{name}, CommonName: name}
	switch ip := net.ParseIP(name); {
	case name == "":
		l = Leaf{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, CommonName: "localhost"}
	case ip != nil:
		l = Leaf{IPAddresses: []net.IP{ip}, CommonName: name}
	}
	c, err := ca.Issue(l)
	if err != nil {
		return nil, err
	}
	ca.leaves[name] = c
	return c, nil
}

// EncodePEM returns c's chain and private key in PEM (CERTIFICATE blocks,
// then one PKCS #8 PRIVATE KEY block), the format NewManager reads.
func EncodePEM(c *tls.Certificate) (certPEM, keyPEM []byte, err error) {
	for _, der := range c.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: EncodePEM: %w", err)
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// randomSerial returns a random 128-bit positive serial number.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	b[0] &= 0x7f
	b[0] |= 0x40 // keep it 16 bytes long
	return new(big.Int).SetBytes(b)
}
