package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/internal/ascii"
	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/internal/problem"
)

// forward sends in (its target picked, x set up) through the retrier in
// the attempt context ctx and relays the response to w. It does what
// httputil.ReverseProxy does for a request that is not a protocol upgrade,
// with fewer copies: the outbound request shares in's header values
// instead of cloning them (outboundHeader, whose map is used again with
// the exchange: settle), the response's header values
// move to w's header rather than being copied one by one (the whole map,
// when w can take it: responseHeader), and the 1xx responses are relayed
// through the exchange's own hook (got1xx) rather than a second trace
// composed with it. A body copy that fails once the response
// has started panics with http.ErrAbortHandler under an http.Server (the
// connection is aborted, never ended as if the response were complete),
// as ReverseProxy does.
func (px *Proxy) forward(w http.ResponseWriter, in *http.Request, x *exchange, ctx context.Context) {
	// The outbound request is stored in the exchange, recycled with it,
	// and keeps in's context: its attempts are sent in ctx, the first
	// attempt's (see retrier.send).
	out := &x.out
	*out = *in
	x.outURL = x.baseURL() // in's URL, its query cleaned, as every retry starts
	out.URL = &x.outURL
	out.Header = px.outboundHeader(in, &x.fwd)
	// Trailers the client sends after its body are not forwarded: they
	// would bypass the header checks (dropped), and a target that merges
	// trailers into the header would believe them. The announced names
	// stay, without values, as ReverseProxy's copy of the map left them.
	out.Trailer = in.Trailer.Clone()
	out.Close = false
	if in.ContentLength == 0 {
		out.Body = nil // no body, whatever the inbound request's Body is
	}
	if out.Body != nil {
		// The retrier reads the body, and http.Transport may still read
		// it on its own goroutine after RoundTrip returned; once the
		// handler has returned, reads fail rather than touch the
		// server's body. The client's body is closed by the server.
		cb := &clientBody{rc: out.Body}
		out.Body = cb
		defer cb.Close()
	}
	pr := httputil.ProxyRequest{In: in, Out: out}
	px.route(&pr, x.cur.target)
	if problem.IsGRPC(in) {
		setGRPCTimeout(out, ctx)
	}

	res, err := retrier{px}.send(x, out, ctx)
	x.mu.Lock()
	x.roundTripped = true
	x.mu.Unlock()
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		// A protocol switch nobody asked for: relayed, the client (or a
		// proxy in front) would take what follows for another protocol
		// while the gateway still reads HTTP requests from it.
		res.Body.Close()
		res, err = nil, errUnexpected101
	}
	if err != nil {
		px.proxyError(w, out, x, err)
		return
	}

	// A Transport's goroutines may still look at a response they made:
	// only the pool's is handed over whole.
	dst := responseHeader(w, res, x.poolOnly())
	// After the filtering above, so that a Connection field of the
	// target's cannot remove the sticky session's cookie.
	px.noteResponse(x, res, dst)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	if read, err := px.copyBody(w, res); err != nil {
		res.Body.Close()
		if px.log != nil && read && in.Context().Err() == nil {
			// The target failed mid-body (a client that went away is
			// not the target's failure, nor worth a warning).
			px.log.LogAttrs(in.Context(), slog.LevelWarn, "proxy: response body copy failed", slog.String("pool", px.name),
				slog.String("target", x.cur.target.ID()), slog.String("path", in.URL.Path), slog.String("error", err.Error()))
		}
		if in.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler) // the server aborts the connection
		}
		return // no server to abort the connection (a test's recorder)
	}
	res.Body.Close() // now, so that res.Trailer is complete
	x.settle()
	if len(res.Trailer) == 0 {
		return
	}
	// Flushing now makes net/http send the body chunked, where it could
	// otherwise add a Content-Length to a short one and lose the trailers.
	_ = http.NewResponseController(w).Flush()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			dst[k] = append(dst[k], vv...)
		}
		return
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		dst[k] = append(dst[k], vv...)
	}
}

// responseHeader moves the fields of res's header that go on to the client
// into w's header, and returns w's header. res is ours: its values move,
// uncopied, and when adopt is set, w's header is still empty and w can
// take a whole map (header.Adopter), res's map itself becomes w's, the
// fields that stop here deleted from it.
func responseHeader(w http.ResponseWriter, res *http.Response, adopt bool) http.Header {
	conn := res.Header["Connection"]
	if a, ok := w.(header.Adopter); ok && adopt && res.Header != nil && len(w.Header()) == 0 {
		src := res.Header
		for name := range src {
			if !header.Forwarded(name, conn) {
				delete(src, name)
			}
		}
		if a.AdoptHeader(src) {
			return src
		}
	}
	dst := w.Header()
	for name, vals := range res.Header {
		if !header.Forwarded(name, conn) {
			continue
		}
		if prev, ok := dst[name]; ok {
			dst[name] = append(prev, vals...)
		} else {
			dst[name] = vals
		}
	}
	return dst
}

// got1xx relays an interim response (103 Early Hints, 100 Continue) to
// the client: its header fields are written with it and then removed
// again, leaving what the handlers before the proxy set in place. From
// then on a response has started, and the request is never retried. The
// pool calls it, and so does a Transport through the exchange's trace
// (traceOn), possibly on a goroutine of its own; it does nothing once the
// round trip has returned, nor on a protocol upgrade (no x.w), where
// httputil.ReverseProxy relays them.
func (x *exchange) got1xx(code int, header textproto.MIMEHeader) error {
	if x.w == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.roundTripped {
		return nil
	}
	h := x.w.Header()
	var saved http.Header
	for k, vv := range header {
		if prev, ok := h[k]; ok {
			if saved == nil {
				saved = make(http.Header)
			}
			saved[k] = prev
		}
		h[k] = vv
	}
	if code != http.StatusSwitchingProtocols {
		x.informed.Store(true)
	}
	x.w.WriteHeader(code)
	for k := range header {
		if prev, ok := saved[k]; ok {
			h[k] = prev
		} else {
			delete(h, k)
		}
	}
	return nil
}

// noteResponse records the response status (the retrier measured the
// time to the response header), and pins a sticky session to the target
// that answered, in the response header h.
func (px *Proxy) noteResponse(x *exchange, resp *http.Response, h http.Header) {
	x.cur.status = resp.StatusCode
	if x.cur.pin != "" {
		px.sticky.SetToken(h, resp.Request, x.cur.pin)
	}
}

// copyBody copies res's body to w with a pooled buffer (a larger one for
// a body known to be larger than the default one). Server-sent
// events and bodies of unknown length (streams, gRPC) are flushed after
// every write and their header at once, others as Config.FlushInterval
// says (the header within the interval). read reports that an error came
// from reading the body, not from writing to the client.
func (px *Proxy) copyBody(w http.ResponseWriter, res *http.Response) (read bool, err error) {
	var dst io.Writer = w
	interval := px.flush
	if res.ContentLength == -1 || eventStream(res.Header["Content-Type"]) {
		interval = -1
	}
	if interval != 0 {
		lw := &latencyWriter{w: w, rc: http.NewResponseController(w), latency: interval}
		defer lw.stop()
		if interval < 0 {
			// A stream's header goes out before its first event, which
			// may be long in coming (an SSE open event, gRPC headers).
			_ = lw.rc.Flush()
		} else {
			// The header goes out within the interval even when the
			// first body byte is late.
			lw.pending = true
			lw.t = time.AfterFunc(interval, lw.delayedFlush)
		}
		dst = lw
	}
	if res.Body == http.NoBody {
		return false, nil // HEAD, 204, 304: no buffer needed
	}
	pool := px.buffers
	if res.ContentLength > bufferSize {
		pool = px.large
	}
	buf := pool.Get()
	defer pool.Put(buf)
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return false, werr
			}
		}
		if rerr == io.EOF {
			return false, nil
		}
		if rerr != nil {
			return true, rerr
		}
	}
}

// eventStream reports whether a Content-Type is text/event-stream,
// whatever its parameters and letter case (without mime.ParseMediaType's
// allocations).
func eventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	v := strings.TrimLeft(ct[0], " \t")
	const es = "text/event-stream"
	if len(v) < len(es) || !strings.EqualFold(v[:len(es)], es) {
		return false
	}
	rest := v[len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}

// latencyWriter flushes what is written to w: after every write when
// latency is negative, else at most latency after a write.
type latencyWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	latency time.Duration

	mu      sync.Mutex // guards t, pending and the flushes
	t       *time.Timer
	pending bool
}

func (l *latencyWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if l.latency < 0 {
		_ = l.rc.Flush()
		return n, err
	}
	if l.pending {
		return n, err
	}
	if l.t == nil {
		l.t = time.AfterFunc(l.latency, l.delayedFlush)
	} else {
		l.t.Reset(l.latency)
	}
	l.pending = true
	return n, err
}

func (l *latencyWriter) delayedFlush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.pending { // stopped, or flushed, as the timer fired
		return
	}
	_ = l.rc.Flush()
	l.pending = false
}

func (l *latencyWriter) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = false
	if l.t != nil {
		l.t.Stop()
	}
}

// clientBody is the client's request body as the retrier and the
// Transport read it: Close only ends the reads (the server closes the
// body itself), so that a read on another goroutine after the handler
// returned fails instead of reaching a body the server has moved on from.
type clientBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.rc.Read(p)
}

func (b *clientBody) Close() error {
	b.closed.Store(true)
	return nil
}

// maxQueryParams is the parameter count beyond which net/url refuses to
// parse a query.
const maxQueryParams = 10000

// cleanQuery returns q with the parameters net/url cannot parse removed
// (a ';' separator, a malformed escape), re-encoded, as ReverseProxy does:
// a target that parses the query differently from the gateway (one that
// splits on ';', say) would otherwise see parameters the gateway's checks
// never saw. A query with nothing to remove is returned as it is, unless
// always (see queryLimitSet).
func cleanQuery(q string, always bool) string {
	if always || strings.Count(q, "&")+1 > maxQueryParams || !ascii.WellFormedQuery(q) {
		return reencodeQuery(q)
	}
	return q
}

// queryLimitSet reports a GODEBUG urlmaxqueryparams setting, under which
// net/url may refuse queries of fewer parameters than maxQueryParams:
// every query is then re-encoded (as ReverseProxy does), so that a target
// never sees parameters the gateway's own parsing refused.
func queryLimitSet() bool { return strings.Contains(os.Getenv("GODEBUG"), "urlmaxqueryparams=") }

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}
