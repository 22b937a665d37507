package proxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Retry defaults, documented on RetryConfig's fields. One retry to another
// target hides most single-target failures without doubling the load of
// an outage; the back-off stays far below the route's default Timeout; the
// budget (20% of active requests, at least 3) keeps retries a small share
// of the traffic however many requests fail.
const (
	defaultRetries         = 1
	defaultBackoffBase     = 25 * time.Millisecond
	defaultBackoffCap      = 250 * time.Millisecond
	defaultRetryBodyBytes  = 64 << 10
	defaultRetryBudgetFrac = 0.2
	defaultRetryBudgetMin  = 3
)

// RetryConfig says when a Proxy sends a request again, always to a
// different target. The zero value selects the documented defaults: one
// retry, full-jitter back-off from 25ms to 250ms, bodies up to 64 KiB
// replayable, a budget of 20% of active requests (at least 3).
//
// A request is retried, whatever its method, when it provably never
// reached a target: the dial or TLS handshake failed, or the connection was
// discarded by the framing guard before any byte was written. An
// idempotent request (GET, HEAD, OPTIONS, TRACE; PUT and DELETE with
// PutDelete; any request carrying Idempotency-Key with IdempotencyKey) is
// also retried on a reset, a response-header timeout or a 502, 503 or 504
// answer. A request is never retried once a response byte was sent to the
// client: retries happen before the response is handed to the client.
type RetryConfig struct {
	// Retries is the number of extra attempts after the first. Zero means
	// 1; a negative value disables retries.
	Retries int
	// PutDelete marks PUT and DELETE as idempotent on this route, so they
	// are retried like GET. Opt in only when the backend implements them
	// idempotently.
	PutDelete bool
	// IdempotencyKey makes any request carrying an Idempotency-Key (or
	// X-Idempotency-Key) header retryable like GET. When false, such
	// headers are still forwarded, but spelled so that Go's Transport does
	// not re-send the request on its own either.
	IdempotencyKey bool
	// BackoffBase and BackoffCap bound the full-jitter wait before retry n
	// (uniform in [0, min(cap, base*2^n)]). Zero means 25ms and 250ms; a
	// negative base disables the wait.
	BackoffBase, BackoffCap time.Duration
	// MaxBodyBytes is the largest request body kept in memory so that it
	// can be sent again. A larger body is streamed and its request is
	// retried only if no byte of it was read. Zero means 64 KiB;
	// negative never buffers.
	MaxBodyBytes int64
	// GRPCStatuses are gRPC status codes (14 for UNAVAILABLE, 8 for
	// RESOURCE_EXHAUSTED, ...) after which a gRPC call is sent again to
	// another target, within the budget: only when the target answered
	// with the status alone (a trailers-only response: no message went to
	// the caller) and the whole request, up to MaxBodyBytes, was read
	// before the answer (a unary call, or a client stream that had ended),
	// so that it can be sent again as it was. A gRPC call is otherwise
	// retried only when it provably reached no target. Name only statuses
	// the service answers before acting on a call. Empty means none.
	GRPCStatuses []int
	// Budget limits concurrent retries; it may be shared by several
	// proxies. Nil means a budget of its own with NewRetryBudget(0.2, 3).
	// Retries of requests that never reached a target are not charged:
	// they add no load anywhere (Retries still bounds them).
	Budget *RetryBudget
}

func (c RetryConfig) validate() error {
	if c.BackoffCap < 0 {
		return fmt.Errorf("proxy: negative BackoffCap %v", c.BackoffCap)
	}
	return nil
}

// retryPolicy is RetryConfig with defaults applied.
type retryPolicy struct {
	retries   int
	putDelete bool
	idemKey   bool
	base, cap time.Duration
	maxBody   int64
	budget    *RetryBudget
	grpc      []string // GRPCStatuses, as grpc-status values
}

func newRetryPolicy(c RetryConfig) (retryPolicy, error) {
	if err := c.validate(); err != nil {
		return retryPolicy{}, err
	}
	base := cmp.Or(c.BackoffBase, defaultBackoffBase)
	p := retryPolicy{
		retries:   max(cmp.Or(c.Retries, defaultRetries), 0),
		putDelete: c.PutDelete,
		idemKey:   c.IdempotencyKey,
		base:      base,
		cap:       cmp.Or(c.BackoffCap, max(defaultBackoffCap, base)),
		maxBody:   cmp.Or(c.MaxBodyBytes, defaultRetryBodyBytes),
		budget:    c.Budget,
	}
	if p.budget == nil {
		p.budget = NewRetryBudget(defaultRetryBudgetFrac, defaultRetryBudgetMin)
	}
	for _, c := range c.GRPCStatuses {
		if c <= 0 || c > 16 {
			return retryPolicy{}, fmt.Errorf("proxy: gRPC status %d is not a retryable error code (1-16)", c)
		}
		p.grpc = append(p.grpc, strconv.Itoa(c))
	}
	return p, nil
}

// idempotent reports whether r may be sent twice on this route.
func (p *retryPolicy) idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	case http.MethodPut, http.MethodDelete:
		if p.putDelete {
			return true
		}
	}
	return p.idemKey && hasIdempotencyKey(r.Header)
}

func hasIdempotencyKey(h http.Header) bool {
	return len(h["Idempotency-Key"]) > 0 || len(h["X-Idempotency-Key"]) > 0
}

// hideIdempotencyKey respells the Idempotency-Key headers of h in lower
// case. HTTP header names are case-insensitive, so the target sees the
// same header, but net/http's Transport (which looks the canonical
// spelling up to decide whether it may re-send a request on its own) no
// longer treats the request as replayable.
func hideIdempotencyKey(h http.Header) {
	for _, k := range [...]string{"Idempotency-Key", "X-Idempotency-Key"} {
		if v, ok := h[k]; ok {
			delete(h, k)
			h[lowerASCII(k)] = v
		}
	}
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// backoff returns the full-jitter wait before retry n (1 for the first).
func (p *retryPolicy) backoff(n int) time.Duration {
	if p.base <= 0 {
		return 0
	}
	d := p.cap
	if n < 31 {
		d = min(p.cap, p.base<<(n-1))
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// sleepCtx waits d or until ctx is done, returning ctx.Err() then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryBudget caps retries at a fraction of the requests in progress, with
// a minimum, so that a failing backend never multiplies the load on the
// others (Envoy's retry budget). It is safe for concurrent use and may be
// shared by several proxies; its zero value allows no retries at all.
type RetryBudget struct {
	ratio   float64
	min     int64
	active  atomic.Int64 // requests in progress
	retries atomic.Int64 // retries in progress
	denied  atomic.Int64
}

// NewRetryBudget returns a budget allowing as many concurrent retries as
// ratio times the requests in progress, and at least minimum. ratio is
// clamped to [0, 1] and minimum to at least 0.
func NewRetryBudget(ratio float64, minimum int) *RetryBudget {
	if !(ratio >= 0) { // also catches NaN
		ratio = 0
	}
	return &RetryBudget{ratio: min(ratio, 1), min: int64(max(minimum, 0))}
}

// Begin counts a request in progress; call End when it ends.
func (b *RetryBudget) Begin() { b.active.Add(1) }

// End ends a request counted by Begin.
func (b *RetryBudget) End() { b.active.Add(-1) }

// Acquire reserves a retry and reports whether the budget allowed it. A
// successful Acquire must be matched by Release when the retry ends.
func (b *RetryBudget) Acquire() bool {
	limit := max(b.min, int64(b.ratio*float64(b.active.Load())))
	if b.retries.Add(1) > limit {
		b.retries.Add(-1)
		b.denied.Add(1)
		return false
	}
	return true
}

// force reserves a retry that is already happening (a re-send by
// net/http's Transport), whatever the limit; Release ends it.
func (b *RetryBudget) force() { b.retries.Add(1) }

// Release ends a retry reserved by Acquire.
func (b *RetryBudget) Release() { b.retries.Add(-1) }

// BudgetStats are a RetryBudget's counters.
type BudgetStats struct {
	// Requests and Retries are the requests and the retries in progress.
	Requests, Retries int64
	// Denied counts the retries the budget refused since it was created.
	Denied int64
}

// Stats returns the budget's counters: three atomic loads.
func (b *RetryBudget) Stats() BudgetStats {
	return BudgetStats{Requests: b.active.Load(), Retries: b.retries.Load(), Denied: b.denied.Load()}
}

// errHiddenRetry is the error of an attempt whose request net/http's
// Transport was about to re-send on its own (the attempt is cancelled).
var errHiddenRetry = errors.New("proxy: transport re-send stopped")

// errConnDiscarded marks a connection the framing guard discarded before
// the request was written: the request never reached the target.
var errConnDiscarded = errors.New("proxy: upstream connection discarded after unsolicited bytes")

// neverReached reports whether err proves that no byte of the request
// reached the target: no connection was obtained (dial, TLS handshake or
// proxy failure), or the error is a dial error or a TLS handshake error,
// or the framing guard refused the connection before writing.
func neverReached(err error, gotConn bool) bool {
	if err == nil {
		return false
	}
	if !gotConn || errors.Is(err, errConnDiscarded) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var rhe tls.RecordHeaderError
	var cve *tls.CertificateVerificationError
	return errors.As(err, &rhe) || errors.As(err, &cve) || h2NeverProcessed(err.Error())
}

// HTTP/2 outcomes that prove the server did not process the stream:
// REFUSED_STREAM (RFC 9113 §8.7), and a GOAWAY whose last stream ID is
// below the request's (the Transport reports errH2GoAway then). The
// Transport's error types are unexported, so its messages are matched,
// anchored at the start so that text a server chose (GOAWAY debug data)
// cannot pass for them. A request with a body and no GetBody comes back
// wrapped in "cannot retry err [...]".
var h2NeverProcessedRE = regexp.MustCompile(`^(?:http2: Transport: cannot retry err \[)?` +
	`(?:stream error: stream ID \d+; REFUSED_STREAM(?:$|[;\]])` +
	`|http2: Transport received Server's graceful shutdown GOAWAY(?:$|\])` +
	`|http2: client conn not usable(?:$|\]))`)

func h2NeverProcessed(msg string) bool {
	return (strings.HasPrefix(msg, "http2: ") || strings.HasPrefix(msg, "stream error: ")) &&
		h2NeverProcessedRE.MatchString(msg)
}

// retryableStatus reports whether a response status makes an idempotent
// request worth sending to another target.
func retryableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable ||
		code == http.StatusGatewayTimeout
}
