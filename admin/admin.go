// Package admin serves a gateway's operations endpoints: liveness and
// readiness, pools and targets, engine statistics, cache purging,
// Prometheus metrics and a status page.
//
// Serve it on a listener of its own that only operators reach (by default
// the examples use 127.0.0.1:9090), never on the public one: it names
// upstream addresses and can purge the cache.
//
//	GET  /            the status page: one self-contained HTML page that refreshes itself
//	GET  /healthz     200 while the process runs (liveness)
//	GET  /readyz      200 while Config.Ready reports true, 503 from the moment shutdown starts
//	GET  /metrics     Prometheus metrics (Config.Metrics)
//	GET  /api/status  everything the status page shows, as JSON
//	POST /api/cache/purge  {"cache": NAME, "url" | "prefix" | "tag": VALUE}, with
//	                  Authorization: Bearer TOKEN (Config.Token; without a token purging is off)
package admin

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/cache"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/route"
	"github.com/gatekit/gatekit/surge"
	gatetls "github.com/gatekit/gatekit/tls"
	"github.com/gatekit/gatekit/validate"
)

// Config says what the admin handler shows. Engines are keyed by the name
// they are shown under. The zero value serves only /healthz, /readyz
// (always ready) and an empty status page.
type Config struct {
	// Ready reports whether the gateway takes traffic: pass the public
	// Server's Ready method, so that /readyz answers 503 from the moment
	// its shutdown starts, before its listener closes. Nil means always
	// ready.
	Ready func() bool
	// Metrics, if set, is served at /metrics.
	Metrics *metrics.Metrics
	// Pools are the upstream pools shown with their targets.
	Pools map[string]*balancer.Pool
	// Caches are the caches shown, and purgeable through
	// /api/cache/purge when Token is set.
	Caches map[string]*cache.Cache
	// Limiters and Concurrency are the rate and concurrency limiters shown.
	Limiters    map[string]*ratelimit.Limiter
	Concurrency map[string]*ratelimit.Concurrency
	// SharedLimiters are the limits shared through a store (package
	// redisrate's Limiter) shown with whether the store decides now.
	SharedLimiters map[string]metrics.SharedLimiter
	// Validators are the request validators shown.
	Validators map[string]*validate.Validator
	// Routes are the route tables shown.
	Routes map[string]*route.Table
	// Surge are the surge detectors shown with their limiters' state.
	Surge map[string]*surge.Detector
	// Certificates are TLS certificate sources shown with their names,
	// issuer, expiry and last reload result: the State method of a
	// gatetls.Manager, ACME or Upstream.
	Certificates map[string]func() []gatetls.CertState
	// Token guards the POST endpoints: a request must carry
	// "Authorization: Bearer <Token>" (compared in constant time). Empty
	// turns the POST endpoints off (403).
	Token string
	// Logger receives purges (Info) and refused POST requests (Warn). Nil
	// means silent.
	Logger *slog.Logger
	// Now returns the current time for the status document. Nil means
	// time.Now.
	Now func() time.Time
}

// Handler is the admin http.Handler. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	start time.Time
}

//go:embed status.html
var statusPage []byte

// New returns the admin handler for cfg. It returns an error for a nil
// engine in one of the maps.
func New(cfg Config) (*Handler, error) {
	for name, p := range cfg.Pools {
		if p == nil {
			return nil, fmt.Errorf("admin: pool %q is nil", name)
		}
	}
	for name, c := range cfg.Caches {
		if c == nil {
			return nil, fmt.Errorf("admin: cache %q is nil", name)
		}
	}
	for name, l := range cfg.Limiters {
		if l == nil {
			return nil, fmt.Errorf("admin: limiter %q is nil", name)
		}
	}
	for name, c := range cfg.Concurrency {
		if c == nil {
			return nil, fmt.Errorf("admin: concurrency limiter %q is nil", name)
		}
	}
	for name, l := range cfg.SharedLimiters {
		if v := reflect.ValueOf(l); l == nil || v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, fmt.Errorf("admin: shared limiter %q is nil", name)
		}
	}
	for name, v := range cfg.Validators {
		if v == nil {
			return nil, fmt.Errorf("admin: validator %q is nil", name)
		}
	}
	for name, t := range cfg.Routes {
		if t == nil {
			return nil, fmt.Errorf("admin: route table %q is nil", name)
		}
	}
	for name, d := range cfg.Surge {
		if d == nil {
			return nil, fmt.Errorf("admin: surge detector %q is nil", name)
		}
	}
	for name, f := range cfg.Certificates {
		if f == nil {
			return nil, fmt.Errorf("admin: certificate source %q is nil", name)
		}
	}
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.start = cfg.Now()
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { text(w, http.StatusOK, "ok\n") })
	h.mux.HandleFunc("GET /readyz", h.ready)
	h.mux.HandleFunc("GET /api/status", h.status)
	h.mux.HandleFunc("POST /api/cache/purge", h.purge)
	if cfg.Metrics != nil {
		h.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	return h, nil
}

// ServeHTTP serves the admin endpoints. Unknown paths are 404 and wrong
// methods 405, as problem+json.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		if allow := h.allowed(r); allow != "" {
			w.Header().Set("Allow", allow)
			problem.Write(w, http.StatusMethodNotAllowed, "")
			return
		}
		problem.Write(w, http.StatusNotFound, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// allowed returns the methods the path accepts, or "" for an unknown path.
func (h *Handler) allowed(r *http.Request) string {
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := h.mux.Handler(r2); p != "" {
			ms = append(ms, m)
			if m == http.MethodGet {
				ms = append(ms, http.MethodHead)
			}
		}
	}
	return strings.Join(ms, ", ")
}

func text(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(s))
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Ready() {
		text(w, http.StatusServiceUnavailable, "shutting down\n")
		return
	}
	text(w, http.StatusOK, "ready\n")
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(statusPage)
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// authorized reports whether r carries the bearer token, in constant time.
func (h *Handler) authorized(r *http.Request) error {
	if h.cfg.Token == "" {
		return errors.New("no admin token is configured")
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errors.New("missing bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(h.cfg.Token)) != 1 {
		return errors.New("wrong bearer token")
	}
	return nil
}
