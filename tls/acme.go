package tls

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// ACMEALPNProtocol is the ALPN protocol of the ACME TLS-ALPN-01 challenge
// (RFC 8737); a listener answering that challenge must offer it.
const ACMEALPNProtocol = "acme-tls/1"

// DefaultRenewCheckInterval is how often certificates are checked for
// renewal when ACMEConfig.RenewCheckInterval is zero.
const DefaultRenewCheckInterval = 10 * time.Minute

// ACMEConfig configures ACME. The zero value of each field selects the
// default documented on it.
type ACMEConfig struct {
	// CA is the ACME directory URL. If empty, Let's Encrypt's production
	// directory.
	CA string
	// Email is the account contact the CA writes to about expiring
	// certificates and incidents. Empty registers an account without one.
	// Registering means agreeing to the CA's terms of service.
	Email string
	// Domains are the names whose certificates Manage obtains (or loads
	// from Storage) and that are kept renewed. The first one answers
	// clients that send no SNI. Wildcards are refused: CAs issue them
	// only through the DNS-01 challenge, which this package does not
	// offer. Domains or OnDemand is required.
	Domains []string
	// OnDemand, if set, also obtains certificates during the handshake for
	// names outside Domains that it allows.
	OnDemand *OnDemandPolicy
	// Storage holds accounts, certificates, keys and locks. Gateway
	// instances that share one Storage (a shared file system, or any
	// certmagic.Storage implementation such as Redis or a database)
	// coordinate through its locks, so a certificate is ordered and
	// renewed by one instance and loaded by the others. If nil, a
	// certmagic.FileStorage in StorageDir.
	Storage certmagic.Storage
	// StorageDir is the directory of the default file storage. If empty,
	// "gatekit-acme" under os.UserCacheDir. It is refused with Storage.
	StorageDir string
	// TrustedRoots verify the CA's own HTTPS endpoint, for a private CA.
	// If nil, the system roots.
	TrustedRoots *x509.CertPool
	// HTTPPort and TLSALPNPort are the ports the CA connects to for
	// HTTP-01 and TLS-ALPN-01 challenges, when port forwarding makes them
	// differ from 80 and 443. If zero, 80 and 443. The port of a disabled
	// challenge is refused.
	HTTPPort, TLSALPNPort int
	// DisableHTTPChallenge and DisableTLSALPNChallenge turn off one
	// challenge type; both are on by default (HTTP-01 needs
	// HTTPChallengeHandler on port 80, TLS-ALPN-01 needs TLSConfig on 443).
	// Turning off both is refused.
	DisableHTTPChallenge, DisableTLSALPNChallenge bool
	// RenewCheckInterval is how often certificates are checked for renewal.
	// If zero, DefaultRenewCheckInterval (10 min).
	RenewCheckInterval time.Duration
	// RenewalWindowRatio is the fraction of a certificate's lifetime, at its
	// end, in which it is renewed when the CA gives no renewal information
	// (ARI). If zero, one third. Values of 1 or more mean "always due".
	RenewalWindowRatio float64
	// Logger receives certificate events (obtained, renewed, failed with
	// the reason) at Info and Warn, and certmagic's own records at Debug
	// and above. If nil, nothing is logged.
	Logger *slog.Logger
}

// OnDemandPolicy decides which names outside ACMEConfig.Domains get a
// certificate the first time a client asks for them.
type OnDemandPolicy struct {
	// Allow reports whether name may have a certificate (a nil error). It
	// is required, and must not allow arbitrary names: every allowed name
	// costs an order at the CA, whose rate limits are per account.
	Allow func(ctx context.Context, name string) error
	// Rate caps the certificates obtained on demand to Rate per Interval
	// across all names; further names are refused until the window moves.
	// If zero, 10.
	Rate int
	// Interval is the window of Rate. If zero, one minute.
	Interval time.Duration
}

// ErrOnDemandRate is returned (and the handshake fails) when an on-demand
// certificate would exceed OnDemandPolicy.Rate.
var ErrOnDemandRate = errors.New("tls: on-demand certificate rate exceeded")

// ACME obtains and renews certificates from an ACME CA (Let's Encrypt,
// ZeroSSL, a private CA) with certmagic, and serves them through
// GetCertificate. certmagic follows the CA's renewal information (ARI)
// where offered, coordinates instances sharing Storage through locks, and
// retries failed renewals with backoff (1 minute, then 2, 2, 5, 10 ... up
// to 6 hours between attempts) while the current certificate keeps being
// served, so a CA outage does not take the site down. certmagic keeps that
// retry schedule per name for the whole process, across ACME values.
//
// An ACME is safe for concurrent use. Close stops its maintenance.
type ACME struct {
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
	ca     string
	log    *slog.Logger

	// mu guards names and events.
	mu     sync.Mutex
	names  []string               // managed names, Domains then on-demand ones
	nDom   int                    // how many of names are Domains
	events map[string]*acmeRecord // by name

	limiter   *windowLimiter
	closeOnce sync.Once
}

type acmeRecord struct {
	lastAttempt, lastSuccess time.Time
	lastErr                  error
	attempts                 int // renewal attempts, for State readers and tests
}

// NewACME returns an ACME for cfg. It checks the configuration but makes no
// request; call Manage to obtain certificates for cfg.Domains. It returns
// an error for an invalid domain name, an OnDemand without Allow, or a
// storage directory that cannot be determined.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	for _, d := range cfg.Domains {
		if !certmagic.SubjectQualifiesForCert(d) {
			return nil, fmt.Errorf("tls: NewACME: %q is not a valid certificate name", d)
		}
		if strings.HasPrefix(d, "*.") {
			// CAs issue wildcards only after a DNS-01 challenge, which
			// needs a DNS provider this package does not take.
			return nil, fmt.Errorf("tls: NewACME: wildcard %q needs the DNS-01 challenge, which ACME does not offer; list the names", d)
		}
	}
	switch {
	case len(cfg.Domains) == 0 && cfg.OnDemand == nil:
		return nil, errors.New("tls: NewACME: neither Domains nor OnDemand: no certificate would ever be obtained")
	case cfg.DisableHTTPChallenge && cfg.DisableTLSALPNChallenge:
		return nil, errors.New("tls: NewACME: both challenges disabled: no certificate could be obtained")
	case cfg.DisableHTTPChallenge && cfg.HTTPPort != 0, cfg.DisableTLSALPNChallenge && cfg.TLSALPNPort != 0:
		return nil, errors.New("tls: NewACME: a port for a disabled challenge")
	case cfg.Storage != nil && cfg.StorageDir != "":
		return nil, errors.New("tls: NewACME: Storage and StorageDir both set (StorageDir configures the default file storage only)")
	}
	if cfg.OnDemand != nil && cfg.OnDemand.Allow == nil {
		return nil, errors.New("tls: NewACME: OnDemand needs an Allow function")
	}
	if cfg.OnDemand != nil && (cfg.OnDemand.Rate < 0 || cfg.OnDemand.Interval < 0) {
		return nil, errors.New("tls: NewACME: negative OnDemand Rate or Interval")
	}
	if cfg.RenewCheckInterval < 0 || cfg.RenewalWindowRatio < 0 {
		return nil, errors.New("tls: NewACME: negative RenewCheckInterval or RenewalWindowRatio")
	}
	storage := cfg.Storage
	if storage == nil {
		dir := cfg.StorageDir
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("tls: NewACME: no StorageDir and no user cache directory: %w", err)
			}
			dir = filepath.Join(base, "gatekit-acme")
		}
		storage = &certmagic.FileStorage{Path: dir}
	}
	a := &ACME{
		ca:     cmp.Or(cfg.CA, certmagic.LetsEncryptProductionCA),
		log:    cfg.Logger,
		names:  slices.Clone(cfg.Domains),
		nDom:   len(cfg.Domains),
		events: make(map[string]*acmeRecord),
	}
	zl := newZapLogger(cfg.Logger)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		RenewCheckInterval: cmp.Or(cfg.RenewCheckInterval, DefaultRenewCheckInterval),
		Logger:             zl,
	})
	magic := certmagic.New(a.cache, certmagic.Config{
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		OnEvent:            a.onEvent,
		Storage:            storage,
		Logger:             zl,
	})
	if len(cfg.Domains) > 0 {
		magic.DefaultServerName = cfg.Domains[0]
	}
	if od := cfg.OnDemand; od != nil {
		a.limiter = &windowLimiter{n: cmp.Or(od.Rate, 10), per: cmp.Or(od.Interval, time.Minute)}
		allow := od.Allow
		magic.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: func(ctx context.Context, name string) error {
			if err := allow(ctx, name); err != nil {
				return err
			}
			if !a.limiter.allowAt(time.Now()) {
				return ErrOnDemandRate
			}
			a.mu.Lock()
			if !slices.Contains(a.names, name) {
				a.names = append(a.names, name)
			}
			a.mu.Unlock()
			return nil
		}}
	}
	a.issuer = certmagic.NewACMEIssuer(magic, certmagic.ACMEIssuer{
		CA:                      a.ca,
		Email:                   cfg.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    cfg.DisableHTTPChallenge,
		DisableTLSALPNChallenge: cfg.DisableTLSALPNChallenge,
		AltHTTPPort:             cfg.HTTPPort,
		AltTLSALPNPort:          cfg.TLSALPNPort,
		TrustedRoots:            cfg.TrustedRoots,
		Logger:                  zl,
	})
	magic.Issuers = []certmagic.Issuer{a.issuer}
	a.magic = magic
	return a, nil
}

// Manage obtains certificates for ACMEConfig.Domains, or loads them from
// Storage when another instance (or an earlier run) already has them, and
// keeps them renewed from then on. It blocks until every domain has a
// certificate, retrying failed orders with backoff (the first retry after
// a minute), and returns the first error that cannot be retried, or, when
// ctx ends first, ctx's error with the last failure's reason. Manage never
// prompts: the account is registered with ACMEConfig.Email as given.
func (a *ACME) Manage(ctx context.Context) error {
	a.mu.Lock()
	domains := slices.Clone(a.names[:a.nDom])
	a.mu.Unlock()
	for _, name := range domains {
		if len(a.cache.AllMatchingCertificates(name)) > 0 {
			continue
		}
		_, err := a.magic.CacheManagedCertificate(ctx, name)
		if errors.Is(err, fs.ErrNotExist) {
			if err = a.magic.ObtainCertAsync(ctx, name); err == nil {
				_, err = a.magic.CacheManagedCertificate(ctx, name)
			}
		}
		if err != nil {
			return a.failure("obtaining", name, err)
		}
	}
	return nil
}

// failure wraps err from an operation on name, adding the reason of the
// last failed attempt when err only says that the context ended.
func (a *ACME) failure(op, name string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		a.mu.Lock()
		var last error
		if r := a.events[name]; r != nil {
			last = r.lastErr
		}
		a.mu.Unlock()
		if last != nil {
			return fmt.Errorf("tls: ACME: %s %s: %w (last attempt: %v)", op, name, err, last)
		}
	}
	return fmt.Errorf("tls: ACME: %s %s: %w", op, name, err)
}

// Renew renews every managed certificate now, whether or not it is due
// (an operator's forced renewal, after a key compromise or once a CA
// outage is over), and serves the new certificates. A failed attempt is
// retried with backoff until ctx ends; meanwhile, and if it never
// succeeds, the current certificates stay served. The error names the
// domains that were not renewed.
func (a *ACME) Renew(ctx context.Context) error {
	a.mu.Lock()
	names := slices.Clone(a.names)
	a.mu.Unlock()
	var errs []error
	for _, name := range names {
		old := a.cache.AllMatchingCertificates(name)
		if err := a.magic.RenewCertAsync(ctx, name, true); err != nil {
			errs = append(errs, a.failure("renewing", name, err))
			continue
		}
		fresh, err := a.magic.CacheManagedCertificate(ctx, name)
		if err != nil {
			errs = append(errs, a.failure("loading renewed", name, err))
			continue
		}
		var stale []string
		for _, c := range old {
			if c.Hash() != fresh.Hash() {
				stale = append(stale, c.Hash())
			}
		}
		a.cache.Remove(stale)
	}
	return errors.Join(errs...)
}

// GetCertificate returns the certificate for hello's server name, answers
// TLS-ALPN-01 challenges, and obtains on-demand certificates when
// ACMEConfig.OnDemand allows. It has the signature of
// tls.Config.GetCertificate.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.magic.GetCertificate(hello)
}

// HTTPChallengeHandler returns a handler that answers ACME HTTP-01
// challenges and passes every other request to next; mount it on the port
// 80 listener, for example as RedirectConfig.ACME.
func (a *ACME) HTTPChallengeHandler(next http.Handler) http.Handler {
	return a.issuer.HTTPChallengeHandler(next)
}

// TLSConfig returns a secure server configuration (see NewEdge) serving
// a's certificates and offering ACMEALPNProtocol for TLS-ALPN-01.
func (a *ACME) TLSConfig() *tls.Config {
	e, _ := NewEdge(a.GetCertificate, EdgeConfig{NextProtos: []string{"h2", "http/1.1", ACMEALPNProtocol}})
	return e.TLSConfig()
}

// State returns the state of the certificate of each managed name, in the
// order of ACMEConfig.Domains then on-demand names; a name that has no
// certificate yet has only Names and the Last fields set. The first domain
// is the Default one.
func (a *ACME) State() []CertState {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]CertState, 0, len(a.names))
	for i, name := range a.names {
		var best *pair
		for _, c := range a.cache.AllMatchingCertificates(name) {
			if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.cert.Leaf.NotAfter)) {
				tc := c.Certificate
				tc.Leaf = c.Leaf
				best = &pair{cert: &tc, names: c.Names}
			}
		}
		s := stateOf(best, "acme:"+a.ca)
		if best == nil {
			s.Names = []string{name}
		}
		s.Default = i == 0 && a.nDom > 0
		if r := a.events[name]; r != nil {
			s.LastAttempt, s.LastSuccess, s.LastError = r.lastAttempt, r.lastSuccess, r.lastErr
		}
		out = append(out, s)
	}
	return out
}

// renewalAttempts returns how many renewals of name have been started.
func (a *ACME) renewalAttempts(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.events[name]; r != nil {
		return r.attempts
	}
	return 0
}

// onEvent records certmagic's certificate events for State and logs them.
func (a *ACME) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	if name == "" {
		return nil
	}
	renewal, _ := data["renewal"].(bool)
	now := time.Now()
	a.mu.Lock()
	r := a.events[name]
	if r == nil {
		r = &acmeRecord{}
		a.events[name] = r
	}
	switch event {
	case "cert_obtaining":
		r.lastAttempt = now
		if renewal {
			r.attempts++
		}
	case "cert_obtained":
		r.lastSuccess, r.lastErr = now, nil
	case "cert_failed":
		err, _ := data["error"].(error)
		r.lastErr = cmp.Or(err, errors.New("tls: ACME: certificate operation failed"))
	}
	lastErr := r.lastErr
	a.mu.Unlock()
	if a.log != nil {
		switch event {
		case "cert_obtained":
			a.log.Info("tls: ACME certificate obtained", "name", name, "renewal", renewal)
		case "cert_failed":
			a.log.Warn("tls: ACME certificate operation failed; current certificate kept", "name", name, "renewal", renewal, "reason", lastErr)
		}
	}
	return nil
}

// Close stops renewal and the certificate cache's maintenance. Certificates
// already loaded are still served by GetCertificate. Close is idempotent
// and returns nil.
func (a *ACME) Close() error {
	a.closeOnce.Do(a.cache.Stop)
	return nil
}

// windowLimiter allows at most n events in any window of length per.
type windowLimiter struct {
	n   int
	per time.Duration

	// mu guards times.
	mu    sync.Mutex
	times []time.Time // of the allowed events inside the window, oldest first
}

// allowAt reports whether an event at now fits the cap, and records it if so.
func (l *windowLimiter) allowAt(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.times) && !l.times[i].After(now.Add(-l.per)) {
		i++
	}
	l.times = l.times[i:]
	if len(l.times) >= l.n {
		return false
	}
	l.times = append(l.times, now)
	return true
}
