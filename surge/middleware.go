package surge

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/internal/reqinfo"
)

// MiddlewareConfig configures Middleware. The zero value of each field
// selects the default documented on it.
type MiddlewareConfig struct {
	// Priority returns a request's priority. If nil, every request is
	// Normal. Return Exempt for health, readiness and admin endpoints,
	// which are then never limited or shed.
	//
	// Security: a priority is a privilege. Priority must not read anything
	// a client can set (a header, a cookie, a query parameter) unless a
	// trusted proxy in front of the gateway sets that value itself and
	// removes any copy the client sent; otherwise any client can claim
	// High (or Exempt) and defeat the shedding. Base it on facts the
	// gateway established: the route, an authenticated identity, a mTLS
	// client certificate, a peer address checked by clientip (a header
	// believed only when clientip.PeerTrusted(r): see the example).
	Priority func(*http.Request) Priority
	// Classify maps a finished request to its Outcome from the status the
	// handler answered (200 if it wrote none). If nil, DefaultClassify.
	Classify func(r *http.Request, status int) Outcome
	// ErrorHandler writes the response to a shed request; err is a
	// *ShedError, or the request context's error when the client went
	// away while queued. If nil, WriteShed: 503 problem+json with
	// Retry-After.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// DefaultClassify is the Outcome of a request that ended with status: a
// request whose client went away (its context is done) is Ignored, as is
// a 4xx, the client's own doing; a 5xx (the proxy's 502 for a dropped
// connection, 503, 504 for a timeout, or a backend's own) is Dropped;
// anything else is a Success.
func DefaultClassify(r *http.Request, status int) Outcome {
	switch {
	case r.Context().Err() != nil:
		return Ignored
	case status >= 500:
		return Dropped
	case status >= 400:
		return Ignored
	}
	return Success
}

// WriteShed answers a shed request: 503 Service Unavailable,
// application/problem+json, with Retry-After in whole seconds (rounded up,
// at least 1) from a *ShedError in err, 1 otherwise.
func WriteShed(w http.ResponseWriter, _ *http.Request, err error) {
	secs := int64(1)
	var se *ShedError
	if errors.As(err, &se) && se.RetryAfter > time.Second {
		secs = int64((se.RetryAfter + time.Second - 1) / time.Second)
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	problem.Write(w, http.StatusServiceUnavailable, "The service is overloaded; retry after the time in Retry-After.")
}

// Middleware returns middleware that admits requests through l: each
// request takes a slot with Acquire (waiting in l's queue when the limit is
// reached), runs, and releases its slot when the handler returns, with the
// Outcome Classify gives its status and its time to the response header
// as the latency sampled (as balancer.Result.Latency: a slow client or a
// long stream says nothing about the backends). A hijacked connection (a
// WebSocket upgrade) frees its slot when it is hijacked. A shed request is
// answered by ErrorHandler and never reaches the next handler. The
// decision ("admitted", "queued" or "shed") goes to the access log and
// metrics of a gatekit Gateway that wraps the request.
//
// Put it in front of the handler that reaches the backends it protects,
// ahead of rate limits and validation: shedding is the cheapest
// rejection. A response cache is best placed in front of it, so that
// hits, which cost the backends nothing, are never shed and never sampled
// as backend latency; behind it, hits count as fast successes.
// Responses keep http.Flusher and Unwrap (for http.ResponseController).
// Everything is resolved when Middleware is called; the admitted path
// allocates nothing. A nil l is a programming error (an ignored
// NewLimiter error): every request is then answered 500, never admitted
// unlimited.
func Middleware(l *Limiter, cfg MiddlewareConfig) func(http.Handler) http.Handler {
	prio, classify, reject := cfg.Priority, cfg.Classify, cfg.ErrorHandler
	if classify == nil {
		classify = DefaultClassify
	}
	if reject == nil {
		reject = WriteShed
	}
	return func(next http.Handler) http.Handler {
		if l == nil { // an ignored NewLimiter error: fail loudly, never admit silently
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				problem.Write(w, http.StatusInternalServerError, "")
			})
		}
		writers := sync.Pool{New: func() any { return new(statusWriter) }}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := Normal
			if prio != nil {
				p = prio(r)
			}
			if p == Exempt {
				next.ServeHTTP(w, r)
				return
			}
			tok, err := l.Acquire(r.Context(), p)
			info := reqinfo.From(w)
			if err != nil {
				if info != nil {
					info.Shed = "shed"
				}
				reject(w, r, err)
				return
			}
			if info != nil {
				info.Shed = "admitted"
				if tok.Queued() {
					info.Shed = "queued"
				}
			}
			sw := writers.Get().(*statusWriter)
			*sw = statusWriter{ResponseWriter: w, tok: tok}
			finished := false
			defer func() {
				if !sw.released {
					o := Dropped // a panic in next
					if finished {
						o = classify(r, cmpStatus(sw.status))
					} else if r.Context().Err() != nil {
						o = Ignored
					}
					// The latency sampled is the time to the response
					// header: how long a slow client takes to read the
					// body, or a stream lasts, says nothing about the
					// backends. The slot is held until now all the same.
					at := sw.header
					if at.IsZero() {
						at = time.Now()
					}
					tok.ReleaseAt(at, o)
				}
				*sw = statusWriter{}
				writers.Put(sw)
			}()
			next.ServeHTTP(sw, r)
			finished = true
		})
	}
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

// statusWriter records the final status a handler writes and when it
// wrote the header, and frees the request's slot when the connection is
// hijacked.
type statusWriter struct {
	http.ResponseWriter
	status   int
	header   time.Time // when the final header was written
	tok      Token
	released bool
}

func (w *statusWriter) sent(code int) {
	if w.status == 0 {
		w.status, w.header = code, time.Now()
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 {
		w.sent(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.sent(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

// Hijack takes over the connection (an upgrade to WebSocket, a CONNECT
// tunnel) through the underlying writer and, if it succeeds, frees the
// request's slot at once, as Ignored: the tunnel's lifetime says nothing
// about the backends' load, and holding a slot for it would let a few
// long-lived connections use up the limit.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && !w.released {
		w.released = true
		w.tok.Release(Ignored)
	}
	return conn, brw, err
}

// Flush flushes the underlying writer if it can (sending the header if
// it was not yet).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.sent(http.StatusOK)
		f.Flush()
	}
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
