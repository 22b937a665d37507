package problem

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// gRPC status codes (google.golang.org/grpc/codes), for the statuses
// the gateway itself produces.
const (
	GRPCOK                 = 0
	GRPCCanceled           = 1
	GRPCUnknown            = 2
	GRPCInvalidArgument    = 3
	GRPCDeadlineExceeded   = 4
	GRPCNotFound           = 5
	GRPCPermissionDenied   = 7
	GRPCResourceExhausted  = 8
	GRPCFailedPrecondition = 9
	GRPCUnimplemented      = 12
	GRPCInternal           = 13
	GRPCUnavailable        = 14
	GRPCUnauthenticated    = 16
)

// IsGRPC reports whether r is a gRPC call: its Content-Type is
// application/grpc or application/grpc+proto, +json, -web and the like.
// A gRPC client cannot read problem+json; errors to it are gRPC statuses.
func IsGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && len(ct[0]) >= len("application/grpc") && strings.EqualFold(ct[0][:len("application/grpc")], "application/grpc")
}

// GRPCCode returns the gRPC status code that stands for an HTTP error
// status the gateway produced: 400 and 415 are INVALID_ARGUMENT, 401
// UNAUTHENTICATED, 403 PERMISSION_DENIED, 404, 405 and 501
// UNIMPLEMENTED (no such method here), 408 and 504 DEADLINE_EXCEEDED, 413,
// 429 and 431 RESOURCE_EXHAUSTED, 499 CANCELLED, 502 and 503 UNAVAILABLE
// (the call may be sent again), 500 INTERNAL; any other 4xx
// FAILED_PRECONDITION and anything else UNKNOWN.
func GRPCCode(status int) int {
	switch status {
	case http.StatusOK:
		return GRPCOK
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return GRPCInvalidArgument
	case http.StatusUnauthorized:
		return GRPCUnauthenticated
	case http.StatusForbidden:
		return GRPCPermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return GRPCUnimplemented
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return GRPCDeadlineExceeded
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusRequestHeaderFieldsTooLarge:
		return GRPCResourceExhausted
	case StatusClientClosedRequest:
		return GRPCCanceled
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return GRPCUnavailable
	case http.StatusInternalServerError:
		return GRPCInternal
	}
	if status >= 400 && status < 500 {
		return GRPCFailedPrecondition
	}
	return GRPCUnknown
}

// maxGRPCProblemBody bounds the problem body a grpcWriter reads for its
// detail; problem bodies written by gatekit are far smaller.
const maxGRPCProblemBody = 16 << 10

// GRPCWriter returns w wrapped so that a problem response written through
// it (Content-Type application/problem+json, as Write and WriteDetails
// set) reaches a gRPC caller as gRPC's own error form: HTTP 200 with
// Content-Type application/grpc and no body, the grpc-status (GRPCCode of
// the problem's status) and grpc-message (the problem's detail, or its
// title) in the header block that ends the stream (a "trailers-only"
// response), and Retry-After turned into grpc-retry-pushback-ms. Every
// other response goes through untouched, unbuffered, with Flush and
// Unwrap (for http.ResponseController) kept.
//
// When r is not a gRPC call (IsGRPC), or w already wraps such a writer,
// GRPCWriter returns w itself. The caller must call finish after the
// handler returns, before the response is considered complete.
func GRPCWriter(w http.ResponseWriter, r *http.Request) (_ http.ResponseWriter, finish func()) {
	if !IsGRPC(r) || findGRPCWriter(w) {
		return w, func() {}
	}
	gw := &grpcWriter{ResponseWriter: w}
	return gw, gw.finish
}

func findGRPCWriter(w http.ResponseWriter) bool {
	for range 32 { // a bound, in case of an Unwrap cycle
		if _, ok := w.(*grpcWriter); ok {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// grpcWriter is the ResponseWriter of GRPCWriter. It is used by one
// handler goroutine, as ResponseWriters are.
type grpcWriter struct {
	http.ResponseWriter
	wrote   bool   // WriteHeader was called (or implied by Write)
	pending int    // status of a problem response not sent yet, 0, or sentProblem
	body    []byte // the pending problem's body so far
	want    int    // the pending problem's Content-Length, or -1
}

// WriteHeader holds back a problem response until its body is complete
// and passes any other status on.
func (gw *grpcWriter) WriteHeader(code int) {
	if gw.wrote || code < 200 {
		if !gw.wrote {
			gw.ResponseWriter.WriteHeader(code) // 1xx: informational
		}
		return
	}
	gw.wrote = true
	h := gw.ResponseWriter.Header()
	if code == StatusClientClosedRequest || !strings.HasPrefix(h.Get("Content-Type"), ContentType) {
		gw.ResponseWriter.WriteHeader(code)
		return
	}
	gw.pending = code
	gw.want = -1
	if n, err := strconv.Atoi(h.Get("Content-Length")); err == nil && n >= 0 {
		gw.want = n
	}
	if gw.want == 0 {
		gw.send()
	}
}

// Write collects a pending problem's body (and sends it in gRPC's form
// once complete) or writes p.
func (gw *grpcWriter) Write(p []byte) (int, error) {
	if !gw.wrote {
		gw.WriteHeader(http.StatusOK)
	}
	switch gw.pending {
	case 0:
		return gw.ResponseWriter.Write(p)
	case sentProblem:
		return len(p), nil
	}
	if room := maxGRPCProblemBody - len(gw.body); room > 0 {
		gw.body = append(gw.body, p[:min(len(p), room)]...)
	}
	if gw.want >= 0 && len(gw.body) >= gw.want {
		gw.send()
	}
	return len(p), nil
}

// Flush sends a pending problem, or flushes the response.
func (gw *grpcWriter) Flush() { _ = gw.FlushError() }

// FlushError is Flush, returning the error of the underlying flush.
func (gw *grpcWriter) FlushError() error {
	switch gw.pending {
	case 0:
	case sentProblem:
		return nil
	default:
		gw.send()
		return nil
	}
	return http.NewResponseController(gw.ResponseWriter).Flush()
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (gw *grpcWriter) Unwrap() http.ResponseWriter { return gw.ResponseWriter }

func (gw *grpcWriter) finish() {
	if gw.pending > 0 {
		gw.send()
	}
}

// sentProblem is grpcWriter.pending once the problem was sent.
const sentProblem = -1

// send writes the pending problem as a trailers-only gRPC response.
func (gw *grpcWriter) send() {
	status := gw.pending
	gw.pending = sentProblem // swallow whatever else the problem writer writes
	var d struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(bytes.TrimSpace(gw.body), &d)
	gw.body = nil
	msg := cmp.Or(d.Detail, d.Title, http.StatusText(status))
	h := gw.ResponseWriter.Header()
	retry := h.Get("Retry-After")
	for _, k := range [...]string{"Content-Length", "Content-Type", "X-Content-Type-Options", "Cache-Control", "Retry-After"} {
		delete(h, k)
	}
	SetGRPCStatus(h, GRPCCode(status), msg)
	if ms, ok := retryAfterMillis(retry); ok {
		h["Grpc-Retry-Pushback-Ms"] = []string{strconv.FormatInt(ms, 10)}
	}
	gw.ResponseWriter.WriteHeader(http.StatusOK)
}

// SetGRPCStatus sets the header of a trailers-only gRPC response with
// code and message on h: Content-Type application/grpc, grpc-status and,
// unless msg is empty, grpc-message (percent-encoded as gRPC requires).
func SetGRPCStatus(h http.Header, code int, msg string) {
	h["Content-Type"] = []string{"application/grpc"}
	h["Grpc-Status"] = []string{strconv.Itoa(code)}
	if msg != "" {
		h["Grpc-Message"] = []string{EncodeGRPCMessage(msg)}
	} else {
		delete(h, "Grpc-Message")
	}
}

// EncodeGRPCMessage percent-encodes msg for the grpc-message field: bytes
// outside printable ASCII, and '%' itself, become %XX.
func EncodeGRPCMessage(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// retryAfterMillis parses a Retry-After value (delay-seconds, or an HTTP
// date) as milliseconds from now.
func retryAfterMillis(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return min(s, 1<<31/1000) * 1000, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Milliseconds(), 0), true
	}
	return 0, false
}
