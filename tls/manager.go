package tls

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often a Manager re-reads its certificate files
// when Config.PollInterval is zero.
const DefaultPollInterval = 2 * time.Second

// CertificateFiles names a PEM certificate chain file (leaf first) and the
// PEM private key file that goes with it.
type CertificateFiles struct {
	CertFile, KeyFile string
}

// Config configures a Manager. The zero value of each field selects the
// default documented on it.
type Config struct {
	// CertFile and KeyFile hold the default certificate: the one served to
	// clients that send no SNI or a name no certificate serves. Required.
	CertFile, KeyFile string
	// Certificates are further certificates, chosen by SNI among their DNS
	// names (exact names before wildcards); when two certificates name the
	// same host, the default one, then the earlier one in this list, wins.
	Certificates []CertificateFiles
	// PollInterval is how often the files are re-read to notice a change;
	// a changed pair is validated and, if good, swapped in. If zero,
	// DefaultPollInterval (2 s); if negative, files are read only by
	// NewManager and Reload (call Reload on SIGHUP).
	PollInterval time.Duration
	// Logger receives one Warn record per rejected reload, with the reason,
	// and one Info record per certificate swapped in. If nil, the Manager
	// is silent; the reasons are also in State.
	Logger *slog.Logger
}

// Manager serves certificates loaded from files through
// tls.Config.GetCertificate, choosing among them by SNI, and swaps in new
// files when they change. A new pair is validated before the swap (the key
// matches, the chain links, the leaf is within its validity and names a
// host); a pair that fails keeps the last good one served and records why.
// Handshakes read an immutable table through an atomic pointer, so a swap
// never blocks or drops a connection, and connections already established
// keep the certificate they were made with.
//
// A Manager is safe for concurrent use. Close stops its file watcher.
type Manager struct {
	log          *slog.Logger
	requireNames bool
	table        atomic.Pointer[sniTable]

	// mu serialises reloads and guards slots.
	mu    sync.Mutex
	slots []*slot

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// slot is one configured certificate and key file pair.
type slot struct {
	files       CertificateFiles
	cur         *pair    // last good pair, served
	tried       [32]byte // hash of the contents last validated, good or bad
	lastAttempt time.Time
	lastSuccess time.Time
	lastErr     error
}

// NewManager loads and validates every configured pair and starts watching
// the files. It returns an error naming the file when a pair cannot be read
// or fails validation (errors.Is finds ErrNoNames for a certificate that
// serves no name, ErrExpired, ErrChain), and when CertFile or KeyFile is
// empty.
func NewManager(cfg Config) (*Manager, error) {
	return newManager(cfg, true, time.Now())
}

func newManager(cfg Config, requireNames bool, now time.Time) (*Manager, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("tls: NewManager: CertFile and KeyFile are required")
	}
	m := &Manager{log: cfg.Logger, requireNames: requireNames}
	files := append([]CertificateFiles{{cfg.CertFile, cfg.KeyFile}}, cfg.Certificates...)
	for _, f := range files {
		if f.CertFile == "" || f.KeyFile == "" {
			return nil, errors.New("tls: NewManager: a certificate without CertFile or KeyFile")
		}
		s := &slot{files: f}
		if err := m.load(s, now); err != nil {
			return nil, err
		}
		m.slots = append(m.slots, s)
	}
	m.publish()
	if poll := cmp.Or(cfg.PollInterval, DefaultPollInterval); poll > 0 {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.watch(poll)
	}
	return m, nil
}

// GetCertificate returns the certificate for hello's server name: an exact
// DNS name, else a wildcard, else the default certificate. It never returns
// an error and does not allocate; it has the signature of
// tls.Config.GetCertificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.table.Load().lookup(hello.ServerName).cert, nil
}

// Serves reports whether one of the certificates names host (exactly or
// by wildcard), rather than host falling back to the default certificate.
func (m *Manager) Serves(host string) bool { return m.table.Load().has(host) }

// Reload re-reads every pair now and swaps in those whose files changed
// and pass validation. It returns nil when every pair is good, else the
// reasons joined, one per rejected pair; the rejected pairs keep serving
// their last good certificate. Examples call it on SIGHUP.
func (m *Manager) Reload() error { return m.ReloadAt(time.Now()) }

// ReloadAt is Reload validating certificate lifetimes at now.
func (m *Manager) ReloadAt(now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	changed := false
	for _, s := range m.slots {
		before := s.cur
		if err := m.load(s, now); err != nil {
			errs = append(errs, err)
		}
		changed = changed || s.cur != before
	}
	if changed {
		m.publish()
	}
	return errors.Join(errs...)
}

// load reads s's files and, if their contents differ from what was last
// validated, validates them and swaps them in. It returns the reason a pair
// was rejected, also when the rejected contents are unchanged since the
// last attempt. s.cur is left as it was on error.
func (m *Manager) load(s *slot, now time.Time) error {
	certPEM, err := os.ReadFile(s.files.CertFile)
	var keyPEM []byte
	if err == nil {
		keyPEM, err = os.ReadFile(s.files.KeyFile)
	}
	if err != nil {
		return m.reject(s, now, fmt.Errorf("tls: reading %s: %w", s.files.CertFile, err))
	}
	h := pairHash(certPEM, keyPEM)
	if s.cur != nil && h == s.tried {
		return s.lastErr // unchanged since the last attempt
	}
	s.tried = h
	p, err := parsePair(certPEM, keyPEM, now, m.requireNames)
	if err != nil {
		return m.reject(s, now, fmt.Errorf("tls: %s: %w", s.files.CertFile, err))
	}
	s.cur, s.lastAttempt, s.lastSuccess, s.lastErr = p, now, now, nil
	if m.log != nil {
		m.log.Info("tls: certificate loaded", "file", s.files.CertFile, "names", p.names,
			"serial", p.cert.Leaf.SerialNumber.Text(16), "not_after", p.cert.Leaf.NotAfter)
	}
	return nil
}

func (m *Manager) reject(s *slot, now time.Time, err error) error {
	s.lastAttempt, s.lastErr = now, err
	if m.log != nil && s.cur != nil {
		m.log.Warn("tls: certificate reload rejected; last good certificate kept", "file", s.files.CertFile, "reason", err)
	}
	return err
}

// publish builds a new SNI table from the current pairs and swaps it in.
func (m *Manager) publish() {
	pairs := make([]*pair, len(m.slots))
	for i, s := range m.slots {
		pairs[i] = s.cur
	}
	m.table.Store(newSNITable(pairs, pairs[0]))
}

// watch re-reads the files every poll until Close.
func (m *Manager) watch(poll time.Duration) {
	defer close(m.done)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			_ = m.ReloadAt(now) // rejections are logged and kept in State
		}
	}
}

// State returns the state of each configured certificate, the default one
// first.
func (m *Manager) State() []CertState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]CertState, len(m.slots))
	for i, s := range m.slots {
		out[i] = stateOf(s.cur, "file:"+s.files.CertFile)
		out[i].Default = i == 0
		out[i].LastAttempt, out[i].LastSuccess, out[i].LastError = s.lastAttempt, s.lastSuccess, s.lastErr
	}
	return out
}

// TLSConfig returns a secure server configuration serving m's
// certificates: NewEdge(m.GetCertificate, EdgeConfig{}).TLSConfig().
func (m *Manager) TLSConfig() *tls.Config {
	e, _ := NewEdge(m.GetCertificate, EdgeConfig{}) // a zero EdgeConfig is always valid
	return e.TLSConfig()
}

// Close stops watching the files. The Manager keeps serving the
// certificates it holds. Close is idempotent and always returns nil.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			close(m.stop)
			<-m.done
		}
	})
	return nil
}
