package tls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// ClientAuth says whether a host asks TLS clients for a certificate.
type ClientAuth int

const (
	// NoClientCert asks for no client certificate (the zero value).
	NoClientCert ClientAuth = iota
	// OptionalClientCert asks for one and verifies it when given; clients
	// without one are let through and have no Identity.
	OptionalClientCert
	// RequireClientCert refuses the handshake of a client without a
	// certificate that verifies against the host's ClientCAs.
	RequireClientCert
)

// HostPolicy is the TLS policy of a group of hosts that verify client
// certificates the same way.
type HostPolicy struct {
	// Hosts are the host names the policy covers: exact names
	// ("admin.example.com") or one-label wildcards ("*.internal.example").
	Hosts []string
	// ClientAuth says whether clients must, may or need not present a
	// certificate.
	ClientAuth ClientAuth
	// ClientCAs verify client certificates; required unless ClientAuth is
	// NoClientCert.
	ClientCAs *x509.CertPool
}

// EdgeConfig configures an Edge. The zero value of each field selects the
// secure default documented on it.
type EdgeConfig struct {
	// Hosts are per-host client-certificate policies. A host in no policy
	// asks for no client certificate. A host may appear in one policy only.
	Hosts []HostPolicy
	// NextProtos are the ALPN protocols offered, in preference order. If
	// nil, "h2" then "http/1.1". ACME TLS-ALPN-01 needs "acme-tls/1"
	// added; ACME.TLSConfig does that.
	NextProtos []string
	// InsecureMinVersion lowers the minimum TLS version below TLS 1.2
	// (tls.VersionTLS10 or tls.VersionTLS11), for clients that cannot be
	// upgraded. TLS 1.0 and 1.1 are deprecated (RFC 8996). Zero keeps 1.2.
	InsecureMinVersion uint16
	// InsecureCipherSuites are TLS 1.2 suites offered after the AEAD ones
	// (for example CBC suites from tls.CipherSuites or tls.InsecureCipherSuites),
	// for clients that have no AEAD suite. Nil offers AEAD suites only.
	InsecureCipherSuites []uint16
	// ErrorHandler writes the 421 Misdirected Request answer of Middleware;
	// err is ErrMisdirected. If nil, an RFC 9457 problem+json response.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives one Warn record at construction when an Insecure
	// field weakens the configuration. If nil, nothing is logged.
	Logger *slog.Logger
}

// aeadSuites are the TLS 1.2 suites with forward secrecy and authenticated
// encryption; TLS 1.3 suites are all AEAD and not configurable in Go.
var aeadSuites = [...]uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Edge is the TLS policy of a gateway's listener: a secure server
// tls.Config around a certificate source (a Manager, ACME, a DevCA) with
// per-host client-certificate policies, and the request middleware that
// holds each request to the policy of its connection.
//
// An Edge is immutable after NewEdge and safe for concurrent use.
type Edge struct {
	base     *tls.Config
	policies []*tls.Config  // index 0: hosts in no policy (nil: base)
	exact    map[string]int // host -> index in policies
	wild     map[string]int // "example.com" for "*.example.com"
	errh     func(http.ResponseWriter, *http.Request, error)
}

// NewEdge returns an Edge serving the certificates getCertificate returns
// (Manager.GetCertificate, ACME.GetCertificate, DevCA.GetCertificate or any
// function of that signature). The server configuration has TLS 1.2 as
// minimum (TLS 1.3 is chosen whenever the client offers it), AEAD suites
// only, the key exchanges X25519MLKEM768 (hybrid post-quantum), X25519 and
// P-256, and ALPN h2 and http/1.1. Session tickets stay valid across
// certificate reloads because reloading never replaces the tls.Config.
//
// It returns an error for a nil getCertificate, a policy requiring client
// certificates without ClientCAs, ClientCAs on a policy that asks for no
// certificate, a policy without Hosts, a host in two policies, or an
// InsecureMinVersion that is not TLS 1.0 or 1.1.
func NewEdge(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error), cfg EdgeConfig) (*Edge, error) {
	if getCertificate == nil {
		return nil, errors.New("tls: NewEdge: nil getCertificate")
	}
	minVersion := uint16(tls.VersionTLS12)
	switch cfg.InsecureMinVersion {
	case 0:
	case tls.VersionTLS10, tls.VersionTLS11:
		minVersion = cfg.InsecureMinVersion
	default:
		return nil, fmt.Errorf("tls: NewEdge: InsecureMinVersion %#x is not TLS 1.0 or 1.1", cfg.InsecureMinVersion)
	}
	if cfg.Logger != nil && (cfg.InsecureMinVersion != 0 || len(cfg.InsecureCipherSuites) > 0) {
		cfg.Logger.Warn("tls: insecure server configuration", "min_version", tls.VersionName(minVersion),
			"extra_cipher_suites", len(cfg.InsecureCipherSuites))
	}
	protos := cfg.NextProtos
	if protos == nil {
		protos = []string{"h2", "http/1.1"}
	}
	e := &Edge{
		base: &tls.Config{
			MinVersion:       minVersion,
			CipherSuites:     append(aeadSuites[:len(aeadSuites):len(aeadSuites)], cfg.InsecureCipherSuites...),
			CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
			NextProtos:       append([]string(nil), protos...),
			GetCertificate:   getCertificate,
		},
		policies: []*tls.Config{nil},
		exact:    make(map[string]int),
		wild:     make(map[string]int),
		errh:     cfg.ErrorHandler,
	}
	if e.errh == nil {
		e.errh = misdirected
	}
	for _, hp := range cfg.Hosts {
		switch {
		case hp.ClientAuth != NoClientCert && hp.ClientCAs == nil:
			return nil, fmt.Errorf("tls: NewEdge: hosts %v verify client certificates but have no ClientCAs", hp.Hosts)
		case hp.ClientAuth == NoClientCert && hp.ClientCAs != nil:
			return nil, fmt.Errorf("tls: NewEdge: hosts %v have ClientCAs but ask for no client certificate (set ClientAuth)", hp.Hosts)
		case len(hp.Hosts) == 0:
			return nil, errors.New("tls: NewEdge: a host policy without Hosts")
		}
		idx := len(e.policies)
		for _, h := range hp.Hosts {
			h = normalizeName(h)
			m, key := e.exact, h
			if rest, ok := strings.CutPrefix(h, "*."); ok {
				m, key = e.wild, rest
			}
			if _, dup := m[key]; dup || h == "" {
				return nil, fmt.Errorf("tls: NewEdge: host %q is empty or in two policies", h)
			}
			m[key] = idx
		}
		e.policies = append(e.policies, e.policyConfig(hp))
	}
	if len(e.policies) > 1 {
		e.base.GetConfigForClient = e.configForClient
	}
	return e, nil
}

// policyConfig derives the server configuration of one host policy from
// the base one. Session tickets are encrypted with the base configuration's
// keys (crypto/tls uses the original configuration's keys when the derived
// one sets none), so they are shared by all policies; crypto/tls verifies
// the client certificate of a resumed session against the ClientCAs of the
// policy it is resumed under, so a session cannot carry a client into a
// host whose CAs did not verify it.
func (e *Edge) policyConfig(hp HostPolicy) *tls.Config {
	c := e.base.Clone()
	switch hp.ClientAuth {
	case OptionalClientCert:
		c.ClientAuth = tls.VerifyClientCertIfGiven
	case RequireClientCert:
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	c.ClientCAs = hp.ClientCAs
	return c
}

func (e *Edge) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	return e.policies[e.policyOf(hello.ServerName)], nil
}

// policyOf returns the index of host's policy, 0 for hosts in none.
func (e *Edge) policyOf(host string) int {
	if len(e.policies) == 1 || host == "" {
		return 0
	}
	host = normalizeName(host)
	if i, ok := e.exact[host]; ok {
		return i
	}
	if j := strings.IndexByte(host, '.'); j > 0 {
		if i, ok := e.wild[host[j+1:]]; ok {
			return i
		}
	}
	return 0
}

// TLSConfig returns the server configuration for http.Server.TLSConfig or
// tls.NewListener. Every call returns the same *tls.Config, so that session
// ticket keys are shared; it must not be modified once in use (clone it to
// derive another).
func (e *Edge) TLSConfig() *tls.Config { return e.base }
