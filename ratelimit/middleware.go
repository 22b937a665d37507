package ratelimit

import (
	"github.com/gatekit/gatekit/internal/reqinfo"

	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/reqkey"
)

// A Decider is a rate limiter Middleware enforces: a *Limiter, whose
// buckets live in this process, or one whose state is shared by several
// gateway instances (package redisrate). Implementations must be safe for
// concurrent use.
type Decider interface {
	// Decide decides on one request of key now. In Reject mode it answers
	// at once; in Queue mode it may wait for the request's turn, at most
	// Config().MaxWait and never past ctx. It returns the decision and,
	// when the request must not proceed, a *LimitError (ErrLimited,
	// ErrBlocked, ErrQueueFull, ErrMaxWait or context.DeadlineExceeded)
	// or ctx's error. An admission takes a token from every policy, except
	// in dry-run mode when the request was over the limit (d.Limited).
	Decide(ctx context.Context, key string) (Decision, error)
	// Refund gives back the token an admitting Decide of key took, when
	// the request did not go ahead after all.
	Refund(key string)
	// Config returns the configuration whose Rates, Key, Headers, DryRun
	// and ErrorHandler Middleware uses. The caller must not modify it. The
	// pointer changes whenever the configuration does, so Middleware
	// rebuilds its headers when it sees a new one. It returns nil for a
	// nil receiver, which Middleware treats as a broken limiter.
	Config() *Config
}

var _ Decider = (*Limiter)(nil)

// Middleware returns middleware that passes a request on only when every
// limiter admits it, each keyed by its own Config.Key (reqkey.ClientIP
// when nil). Limiters are applied in order: a Reject-mode limiter decides
// at once, a Queue-mode limiter holds the request (see Limiter.Wait). When
// one rejects, the tokens the earlier ones took are given back (a dry-run
// limiter that admitted the request over its limit took none, and gets
// none back) and the rejecting limiter's ErrorHandler answers (429
// problem+json by default), after Retry-After (whole seconds, rounded up,
// never 0) and the rate-limit headers are set. Admitted responses carry
// RateLimit-Policy listing every policy and RateLimit for the most
// restrictive one (fewest requests left). The header form
// (Config.Headers) is the first limiter's. The limiters may be local
// (*Limiter) or shared (package redisrate), in any mix.
//
// Policy names identify policies in these headers, so they must be
// unique: New rejects duplicates within one limiter, and when limiters
// given to one Middleware share a name (two limiters of "10/s", say), each
// repeat, in argument order, is reported under the name with the first
// free suffix "-2", "-3", ... ("10/s" and "10/s-2").
//
// Put clientip.Middleware in front when the gateway sits behind trusted
// proxies, so that reqkey.ClientIP keys by the real client. Everything is
// resolved when Middleware is called, and again only when a limiter's
// configuration changes (SetRates); nothing is built per request. With no
// limiters it returns next unchanged. A nil limiter is a programming error
// (an ignored New error): every request is then answered 500, never
// silently allowed.
func Middleware(lims ...Decider) func(http.Handler) http.Handler {
	m := &multi{lims: append([]Decider(nil), lims...)}
	broken := false
	for _, l := range m.lims {
		if l == nil || l.Config() == nil {
			broken = true
		}
	}
	if !broken && len(m.lims) > 0 {
		m.snap.Store(m.build())
	}
	return func(next http.Handler) http.Handler {
		if broken {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				problem.Write(w, http.StatusInternalServerError, "")
			})
		}
		if len(m.lims) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sn := m.current()
			if sn.err != nil {
				problem.Write(w, http.StatusInternalServerError, "")
				return
			}
			// keyOf[j] is lims[j]'s key; took[j] reports that lims[j] took
			// a token (not so for a dry-run admission over the limit).
			var kbuf [4]string
			var tbuf [4]bool
			keyOf, took := kbuf[:0], tbuf[:0]
			var best Decision
			bestLim := -1
			verdict := "allowed"
			for i, l := range m.lims {
				key := sn.keys[i](r)
				d, err := l.Decide(r.Context(), key)
				if err != nil {
					for j, k := range keyOf {
						if took[j] {
							m.lims[j].Refund(k)
						}
					}
					h := w.Header()
					var le *LimitError
					if errors.As(err, &le) {
						h.Set("Retry-After", strconv.FormatInt(seconds(le.RetryAfter), 10))
						d.Allowed, d.RetryAfter = false, le.RetryAfter
						p := sn.pol(i, d.Policy)
						writeState(h, sn.mode, sn.policy, p.name, p.quota, d)
					}
					if info := reqinfo.From(w); info != nil {
						info.Limit = "rejected" // for the access log around the limiter
					}
					sn.handlers[i](w, r, err)
					return
				}
				switch {
				case d.Queued:
					verdict = "queued"
				case d.Limited && sn.cfgs[i].DryRun && verdict == "allowed":
					verdict = "dry-run"
				}
				keyOf = append(keyOf, key)
				took = append(took, !(d.Limited && sn.cfgs[i].DryRun))
				if bestLim < 0 || d.Remaining < best.Remaining {
					best, bestLim = d, i
				}
			}
			if sn.mode != HeadersNone {
				p := sn.pol(bestLim, best.Policy)
				writeState(w.Header(), sn.mode, sn.policy, p.name, p.quota, best)
			}
			if info := reqinfo.From(w); info != nil {
				info.Limit = verdict
			}
			next.ServeHTTP(w, r)
		})
	}
}

// multi is the state of one Middleware: its limiters and what it derives
// from their configurations.
type multi struct {
	lims []Decider
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises rebuilds
}

// snapshot is what Middleware derives from its limiters' configurations.
type snapshot struct {
	cfgs     []*Config // the configurations it was built from
	keys     []func(*http.Request) string
	handlers []func(http.ResponseWriter, *http.Request, error)
	pols     [][]policy // pols[i][j]: lims[i]'s policy j, under its header name
	policy   string     // the RateLimit-Policy value
	mode     HeaderMode
	err      error // a limiter reported invalid Rates
}

// current returns the snapshot of the limiters' current configurations,
// rebuilding it if one changed.
func (m *multi) current() *snapshot {
	sn := m.snap.Load()
	for i, l := range m.lims {
		if l.Config() != sn.cfgs[i] {
			m.mu.Lock()
			defer m.mu.Unlock()
			sn = m.build()
			m.snap.Store(sn)
			return sn
		}
	}
	return sn
}

// build derives a snapshot from the limiters' configurations.
func (m *multi) build() *snapshot {
	sn := &snapshot{mode: m.lims[0].Config().Headers}
	used := map[string]bool{}
	var policies []string
	for _, l := range m.lims {
		cfg := l.Config()
		pols, err := compile(cfg.Rates)
		if err != nil && sn.err == nil {
			sn.err = err
		}
		for j := range pols {
			pols[j].name = uniqueName(used, pols[j].name)
		}
		sn.cfgs = append(sn.cfgs, cfg)
		key, handler := cfg.Key, cfg.ErrorHandler
		if key == nil {
			key = reqkey.ClientIP
		}
		if handler == nil {
			handler = WriteError
		}
		sn.keys = append(sn.keys, key)
		sn.handlers = append(sn.handlers, handler)
		sn.pols = append(sn.pols, pols)
		policies = append(policies, formatPolicy(pols))
	}
	sn.policy = joinPolicies(policies)
	return sn
}

// pol returns lims[i]'s policy j as Middleware names it; j past the end
// (the limiter's Rates changed since its decision) gives its last policy.
func (sn *snapshot) pol(i, j int) policy {
	p := sn.pols[i]
	return p[min(j, len(p)-1)]
}

// uniqueName returns name, or if used has it, name with the first suffix
// "-2", "-3", ... that used has not; it adds the result to used.
func uniqueName(used map[string]bool, name string) string {
	n := name
	for k := 2; used[n]; k++ {
		n = name + "-" + strconv.Itoa(k)
	}
	used[n] = true
	return n
}

// WriteError is the default ErrorHandler of Limiter and Concurrency: a
// *LimitError becomes 429 Too Many Requests as application/problem+json
// (Retry-After is already set by the middleware), except one wrapping
// ErrUnavailable, which becomes 503 Service Unavailable, as does any other
// error (a queued request whose context ended).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var le *LimitError
	if errors.Is(err, ErrUnavailable) {
		problem.Write(w, http.StatusServiceUnavailable, "The rate limiter is unavailable.")
		return
	}
	if errors.As(err, &le) {
		unit := " seconds."
		n := seconds(le.RetryAfter)
		if n == 1 {
			unit = " second."
		}
		problem.WriteDetails(w, problem.Details{
			Status: http.StatusTooManyRequests,
			Detail: "Too many requests; retry after " + strconv.FormatInt(n, 10) + unit,
		})
		return
	}
	problem.Write(w, http.StatusServiceUnavailable, "The request was not admitted in time.")
}

// mergeField puts prev's list items in front of h[key]'s, when both exist.
func mergeField(h http.Header, key string, prev []string) {
	if len(prev) == 0 || prev[0] == "" || len(h[key]) == 0 {
		return
	}
	h[key] = []string{prev[0] + ", " + h[key][0]}
}

// ConcurrencyMiddleware returns middleware that holds a slot of c for each
// request, keyed by c's Config.Key (reqkey.ClientIP when nil), for as long as the
// next handler runs. A request refused a slot (at once in Reject mode,
// after MaxQueue or MaxWait in Queue mode) is answered by c's ErrorHandler
// (429 problem+json by default) with Retry-After and, unless Headers is
// HeadersNone, the rate-limit headers of the concurrency policy, added to
// those a rate-limiting Middleware in front has set (RateLimit-Policy and
// RateLimit then list both).
func ConcurrencyMiddleware(c *Concurrency) func(http.Handler) http.Handler {
	key, handler := c.cfg.Key, c.cfg.ErrorHandler
	if key == nil {
		key = reqkey.ClientIP
	}
	if handler == nil {
		handler = WriteError
	}
	quota := int64(c.max)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if err := c.Acquire(r.Context(), k); err != nil {
				var le *LimitError
				if errors.As(err, &le) {
					h := w.Header()
					h.Set("Retry-After", strconv.FormatInt(seconds(le.RetryAfter), 10))
					if c.cfg.Headers != HeadersNone {
						// A rate limiter in front may have listed its
						// policies: add this one to them.
						prevPolicy, prevState := h[keyPolicy], h[keyState]
						writeState(h, c.cfg.Headers, c.policy, c.cfg.Name, quota, Decision{RetryAfter: le.RetryAfter})
						mergeField(h, keyPolicy, prevPolicy)
						mergeField(h, keyState, prevState)
					}
				}
				handler(w, r, err)
				return
			}
			defer c.Release(k)
			next.ServeHTTP(w, r)
		})
	}
}
