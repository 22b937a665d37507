package tls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"
)

// UpstreamConfig configures the TLS a proxy uses towards its backends. The
// zero value verifies backends against the system roots with no client
// certificate.
type UpstreamConfig struct {
	// RootCAs verify backend certificates. If nil, the system roots.
	RootCAs *x509.CertPool
	// ServerName overrides the name backend certificates are verified
	// against (and sent as SNI), for backends addressed by IP or by a name
	// other than the one in their certificate. If empty, the host of the
	// request URL.
	ServerName string
	// CertFile and KeyFile hold a client certificate presented to backends
	// that ask for one (mTLS). The files are watched and reloaded like a
	// Manager's; empty means no client certificate.
	CertFile, KeyFile string
	// PollInterval is how often CertFile and KeyFile are re-read. If zero,
	// DefaultPollInterval; if negative, only Reload re-reads them.
	PollInterval time.Duration
	// InsecureSkipVerify accepts any backend certificate, leaving the
	// connection open to interception. For tests against throwaway
	// backends only.
	InsecureSkipVerify bool
	// Logger receives reload records as for Config.Logger. If nil, silent.
	Logger *slog.Logger
}

// Upstream holds the client side TLS configuration of a proxy: the CAs its
// backends are verified against, an optional server name override and an
// optional client certificate that is reloaded when its files change.
//
// An Upstream is safe for concurrent use; Close stops its file watcher.
type Upstream struct {
	conf *tls.Config
	m    *Manager // nil without a client certificate
}

// NewUpstream returns an Upstream for cfg. It returns an error when only one
// of CertFile and KeyFile is set, the pair fails validation (the key
// matches, the chain links, the certificate is within its validity), or a
// field would be ignored: PollInterval without CertFile, RootCAs with
// InsecureSkipVerify.
func NewUpstream(cfg UpstreamConfig) (*Upstream, error) {
	u := &Upstream{conf: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            cfg.RootCAs,
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}}
	switch {
	case (cfg.CertFile == "") != (cfg.KeyFile == ""):
		return nil, errors.New("tls: NewUpstream: CertFile and KeyFile go together")
	case cfg.CertFile == "" && cfg.PollInterval != 0:
		return nil, errors.New("tls: NewUpstream: PollInterval without a client certificate to reload")
	case cfg.InsecureSkipVerify && cfg.RootCAs != nil:
		return nil, errors.New("tls: NewUpstream: RootCAs with InsecureSkipVerify, which verifies nothing")
	}
	if cfg.CertFile != "" {
		m, err := newManager(Config{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, PollInterval: cfg.PollInterval, Logger: cfg.Logger}, false, time.Now())
		if err != nil {
			return nil, err
		}
		u.m = m
		u.conf.GetClientCertificate = u.clientCertificate
	}
	return u, nil
}

func (u *Upstream) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return u.m.table.Load().def.cert, nil
}

// TLSConfig returns the client configuration for http.Transport's
// TLSClientConfig (or tls.Dial). Every call returns the same *tls.Config;
// it must not be modified once in use. The client certificate it presents
// is the one currently loaded, so a reload takes effect on the next
// connection without rebuilding the transport.
func (u *Upstream) TLSConfig() *tls.Config { return u.conf }

// Reload re-reads the client certificate files now; see Manager.Reload. It
// returns nil without a client certificate.
func (u *Upstream) Reload() error {
	if u.m == nil {
		return nil
	}
	return u.m.Reload()
}

// State returns the client certificate's state, or nil without one.
func (u *Upstream) State() []CertState {
	if u.m == nil {
		return nil
	}
	return u.m.State()
}

// Close stops watching the client certificate files. It is idempotent and
// returns nil.
func (u *Upstream) Close() error {
	if u.m == nil {
		return nil
	}
	return u.m.Close()
}
