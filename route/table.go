package route

import (
	"github.com/gatekit/gatekit/internal/reqinfo"

	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/pathcanon"
)

type ctxKey struct{}

// FromContext returns the Match of the request being served by a Table.
// Middleware and handlers of a rule may read it but must not modify it.
func FromContext(ctx context.Context) (*Match, bool) {
	m, ok := ctx.Value(ctxKey{}).(*Match)
	return m, ok
}

// Table routes requests to rules. It is an http.Handler and, through Match,
// an engine usable without a server. The compiled rules are immutable and
// replaced atomically by Swap: each request is routed by exactly one
// version. A Table is safe for concurrent use by multiple goroutines and
// must not be copied; the zero value is not usable, create one with New.
// Close it when done to stop mirrored requests.
type Table struct {
	cfg  Config
	snap atomic.Pointer[snapshot]
	rctx sync.Pool // *chi.Context

	stopCtx context.Context
	stop    context.CancelFunc
	sem     chan struct{}
	wg      sync.WaitGroup

	// mu protects closed and orders wg.Add before Close's wg.Wait.
	mu     sync.Mutex
	closed bool

	mirrored, mirrorDropped, mirrorSkipped, mirrorPanics atomic.Uint64
}

// Stats are cumulative counters of a Table.
type Stats struct {
	Mirrored      uint64 // copies started
	MirrorDropped uint64 // copies not started because MaxMirrors were in flight or the table was closed
	MirrorSkipped uint64 // copies not started because the body exceeded Mirror.MaxBody or failed to read
	MirrorPanics  uint64 // mirror handlers that panicked (recovered)
}

// New validates cfg and rules and returns a Table. It returns an error for
// an invalid pattern, host, method, predicate, regular expression, rewrite,
// redirect or split; it never panics.
func New(rules []Rule, cfg Config) (*Table, error) {
	if cfg.MaxBodyInspect < 0 || cfg.MaxJSONDepth < 0 || cfg.MaxMirrors < 0 {
		return nil, errors.New("route: MaxBodyInspect, MaxJSONDepth and MaxMirrors must not be negative")
	}
	if err := cfg.Path.Check(); err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	cfg.MaxBodyInspect = cmp.Or(cfg.MaxBodyInspect, 64<<10)
	cfg.MaxJSONDepth = cmp.Or(cfg.MaxJSONDepth, 64)
	cfg.MaxMirrors = cmp.Or(cfg.MaxMirrors, 64)
	if cfg.DefaultHost != "" {
		if err := checkHost(cfg.DefaultHost); err != nil {
			return nil, err
		}
		cfg.DefaultHost = pathcanon.Host(cfg.DefaultHost)
	}
	t := &Table{cfg: cfg, sem: make(chan struct{}, cfg.MaxMirrors)}
	t.rctx.New = func() any { return chi.NewRouteContext() }
	t.stopCtx, t.stop = context.WithCancel(context.Background())
	s, err := t.compile(rules)
	if err != nil {
		t.stop()
		return nil, err
	}
	t.snap.Store(s)
	return t, nil
}

// Swap validates and compiles rules and, if they are valid, atomically
// replaces the table's rules; requests already routed finish with the old
// version. On error the current rules stay in place.
func (t *Table) Swap(rules []Rule) error {
	s, err := t.compile(rules)
	if err != nil {
		return err
	}
	t.snap.Store(s)
	return nil
}

// Close stops mirrored requests (their contexts are cancelled), waits for
// them to return and makes later copies drop. It is idempotent and always
// returns nil. Routing keeps working after Close.
func (t *Table) Close() error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		t.stop()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{
		Mirrored:      t.mirrored.Load(),
		MirrorDropped: t.mirrorDropped.Load(),
		MirrorSkipped: t.mirrorSkipped.Load(),
		MirrorPanics:  t.mirrorPanics.Load(),
	}
}

// ServeHTTP routes r and serves it with the matched rule's handler chain.
// The request passed on is a shallow copy whose URL.Path and URL.RawPath
// are the canonical matched path, whose Pattern is the matched path
// pattern (as http.ServeMux sets it, so that reqkey.Route and per-route
// limits key every request of "/items/{id}" alike), whose context carries
// the Match (FromContext) and whose path values are the decoded
// parameters.
// Requests no rule serves are answered through Config.ErrorHandler.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t.cfg.Path.MergeSlashes && r.URL != nil && strings.Contains(r.URL.EscapedPath(), "//") {
		if p, err := t.cfg.Path.Canonical(r.URL.EscapedPath()); err == nil {
			loc := p
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusPermanentRedirect)
			return
		}
	}
	var bs bodyState
	m, err := t.match(r, &bs)
	if bs.read || err != nil {
		r = r.WithContext(r.Context())
		if bs.read {
			bs.restore(r)
		}
	}
	if err != nil {
		t.fail(w, r, err)
		return
	}
	mp := &m
	if info := reqinfo.From(w); info != nil {
		// For the access log and metrics around the table.
		info.Rule, info.Pattern = m.Name, m.Pattern
	}
	r2 := r.WithContext(context.WithValue(r.Context(), ctxKey{}, mp))
	u := *r.URL
	u.RawPath = m.Path
	if u.Path, err = url.PathUnescape(m.Path); err != nil {
		// Unreachable: a canonical path is always valid percent-encoding.
		t.fail(w, r, pathcanon.ErrInvalidEscape)
		return
	}
	r2.URL = &u
	r2.Pattern = m.Pattern
	for _, p := range m.Params {
		r2.SetPathValue(p.Name, p.Value)
	}
	m.h.ServeHTTP(w, r2)
}

func (t *Table) fail(w http.ResponseWriter, r *http.Request, err error) {
	if t.cfg.ErrorHandler != nil {
		t.cfg.ErrorHandler(w, r, err)
		return
	}
	status := StatusOf(err)
	var me *MethodError
	if errors.As(err, &me) {
		w.Header().Set("Allow", strings.Join(me.Allow, ", "))
	}
	var detail string
	switch {
	case status == http.StatusInternalServerError:
	case errors.Is(err, pathcanon.ErrBadPath):
		detail = pathcanon.Reason(err)
	default:
		detail = strings.TrimPrefix(err.Error(), "route: ")
	}
	problem.Write(w, status, detail)
}
