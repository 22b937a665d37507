package ratelimit

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/reqkey"
)

// Middleware returns middleware that passes a request on only when every
// limiter admits it, each keyed by its own Config.Key (reqkey.ClientIP when nil).
// Limiters are applied in order: a Reject-mode limiter decides at once, a
// Queue-mode limiter holds the request (see Limiter.Wait). When one
// rejects, the tokens the earlier ones took are given back (a dry-run
// limiter that admitted the request over its limit took none, and gets
// none back) and the rejecting limiter's ErrorHandler answers (429
// problem+json by default), after Retry-After (whole seconds, rounded up,
// never 0) and the rate-limit headers are set. Admitted responses carry RateLimit-Policy
// listing every policy and RateLimit for the most restrictive one (fewest
// requests left). The header form (Config.Headers) is the first limiter's.
//
// Policy names identify policies in these headers, so they must be
// unique: New rejects duplicates within one limiter, and when limiters
// given to one Middleware share a name (two limiters of "10/s", say), each
// repeat, in argument order, is reported under the name with the first
// free suffix "-2", "-3", ... ("10/s" and "10/s-2").
//
// Put clientip.Middleware in front when the gateway sits behind trusted
// proxies, so that reqkey.ClientIP keys by the real client. Everything is
// resolved when Middleware is called; nothing is built per request. With
// no limiters it returns next unchanged. A nil limiter is a programming
// error (an ignored New error): every request is then answered 500, never
// silently allowed.
func Middleware(lims ...*Limiter) func(http.Handler) http.Handler {
	lims = append([]*Limiter(nil), lims...)
	keys := make([]func(*http.Request) string, len(lims))
	handlers := make([]func(http.ResponseWriter, *http.Request, error), len(lims))
	names := make([][]string, len(lims)) // names[i][j]: header name of lims[i].pol[j]
	used := map[string]bool{}
	var policies []string
	broken := false
	for i, l := range lims {
		if l == nil {
			broken = true
			continue
		}
		pols := append([]policy(nil), l.pol...)
		for j := range pols {
			pols[j].name = uniqueName(used, pols[j].name)
			names[i] = append(names[i], pols[j].name)
		}
		keys[i] = l.cfg.Key
		if keys[i] == nil {
			keys[i] = reqkey.ClientIP
		}
		handlers[i] = l.cfg.ErrorHandler
		if handlers[i] == nil {
			handlers[i] = WriteError
		}
		policies = append(policies, formatPolicy(pols))
	}
	policy := joinPolicies(policies)
	mode := HeadersDraft
	if len(lims) > 0 && lims[0] != nil {
		mode = lims[0].cfg.Headers
	}
	return func(next http.Handler) http.Handler {
		if broken {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				problem.Write(w, http.StatusInternalServerError, "")
			})
		}
		if len(lims) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// keyOf[j] is lims[j]'s key; took[j] reports that lims[j] took
			// a token (not so for a dry-run admission over the limit).
			var kbuf [4]string
			var tbuf [4]bool
			keyOf, took := kbuf[:0], tbuf[:0]
			var best Decision
			bestLim := -1
			for i, l := range lims {
				key := keys[i](r)
				var d Decision
				var err error
				if l.cfg.Mode == Queue {
					d, err = l.wait(r.Context(), key)
				} else if d = l.allow(key, time.Time{}, true); !d.Allowed {
					err = l.limitErr(d, ErrLimited)
				}
				if err != nil {
					for j, k := range keyOf {
						if took[j] {
							lims[j].Refund(k)
						}
					}
					h := w.Header()
					var le *LimitError
					if errors.As(err, &le) {
						h.Set("Retry-After", strconv.FormatInt(seconds(le.RetryAfter), 10))
						d.Allowed, d.RetryAfter = false, le.RetryAfter
						writeState(h, mode, policy, names[i][d.Policy], l.pol[d.Policy].quota, d)
					}
					handlers[i](w, r, err)
					return
				}
				keyOf = append(keyOf, key)
				took = append(took, !(d.Limited && l.cfg.DryRun))
				if bestLim < 0 || d.Remaining < best.Remaining {
					best, bestLim = d, i
				}
			}
			if mode != HeadersNone {
				writeState(w.Header(), mode, policy, names[bestLim][best.Policy], lims[bestLim].pol[best.Policy].quota, best)
			}
			next.ServeHTTP(w, r)
		})
	}
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
// (Retry-After is already set by the middleware); any other error (a
// queued request whose context ended) becomes 503 Service Unavailable.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var le *LimitError
	if errors.As(err, &le) {
		problem.WriteDetails(w, problem.Details{
			Status: http.StatusTooManyRequests,
			Detail: "Too many requests; retry after " + strconv.FormatInt(seconds(le.RetryAfter), 10) + " seconds.",
		})
		return
	}
	problem.Write(w, http.StatusServiceUnavailable, "The request was not admitted in time.")
}

// ConcurrencyMiddleware returns middleware that holds a slot of c for each
// request, keyed by c's Config.Key (reqkey.ClientIP when nil), for as long as the
// next handler runs. A request refused a slot (at once in Reject mode,
// after MaxQueue or MaxWait in Queue mode) is answered by c's ErrorHandler
// (429 problem+json by default) with Retry-After and, unless Headers is
// HeadersNone, the rate-limit headers of the concurrency policy.
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
						writeState(h, c.cfg.Headers, c.policy, c.cfg.Name, quota, Decision{RetryAfter: le.RetryAfter})
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
