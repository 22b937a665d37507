package validate

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3filter"
)

// serveValidatingResponse calls next with a buffering writer, validates the
// buffered response against m's operation and then forwards it, or answers
// 502 under ResponseReject.
func (v *Validator) serveValidatingResponse(w http.ResponseWriter, r *http.Request, m *match, next http.Handler) {
	rb := &respBuffer{w: w, header: make(http.Header), limit: v.cfg.MaxResponseBytes}
	next.ServeHTTP(rb, r)
	if rb.streaming {
		v.stats.skippedResponses.Add(1)
		return // too large or flushed: forwarded unvalidated
	}
	if !rb.wroteHeader {
		rb.status = http.StatusOK
	}
	if encoded(rb.header) {
		// A compressed body cannot be checked against a schema without
		// decoding it; it is forwarded unvalidated rather than refused.
		v.stats.skippedResponses.Add(1)
		rb.commit()
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: m.pathParams.asMap(), Route: m.op.route, Options: v.paramOpts},
		Status:                 rb.status,
		Header:                 rb.header,
		Options:                v.respOpts,
	}
	in.SetBodyBytes(rb.buf.Bytes())
	err := safely(func() error { return openapi3filter.ValidateResponse(context.Background(), in) })
	if err != nil {
		v.stats.badResponses.Add(1)
		c := &collector{max: v.cfg.MaxErrors}
		if errors.Is(err, errPanic) {
			c.add(FieldError{In: "response", Reason: "could not be validated"})
		} else {
			c.addKin("response", "", err)
		}
		if v.cfg.Logger != nil {
			reasons := make([]string, 0, len(c.fields))
			for _, f := range c.fields {
				reasons = append(reasons, f.Pointer+" "+f.Reason)
			}
			v.cfg.Logger.Warn("validate: response does not match the spec",
				"method", r.Method, "path", m.op.entry.template, "status", rb.status,
				"errors", strings.Join(reasons, "; "), "omitted", c.omitted)
		}
		if v.cfg.Responses == ResponseReject {
			v.cfg.ErrorHandler(w, r, newError(ErrResponse, http.StatusBadGateway, "the upstream response does not match the API", nil, err))
			return
		}
	}
	rb.commit()
}

// respBuffer holds a response until it is validated. Past limit bytes, or on
// Flush, it commits what it has and streams the rest unvalidated.
type respBuffer struct {
	w           http.ResponseWriter
	header      http.Header
	status      int
	wroteHeader bool
	buf         bytes.Buffer
	limit       int64
	streaming   bool
}

func (rb *respBuffer) Header() http.Header {
	if rb.streaming {
		return rb.w.Header()
	}
	return rb.header
}

func (rb *respBuffer) WriteHeader(code int) {
	if rb.streaming {
		rb.w.WriteHeader(code)
		return
	}
	if rb.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses go straight through.
		h := rb.w.Header()
		for k, vv := range rb.header {
			h[k] = vv
		}
		rb.w.WriteHeader(code)
		return
	}
	rb.status, rb.wroteHeader = code, true
}

func (rb *respBuffer) Write(p []byte) (int, error) {
	if rb.streaming {
		return rb.w.Write(p)
	}
	if !rb.wroteHeader {
		rb.WriteHeader(http.StatusOK)
	}
	if int64(rb.buf.Len()+len(p)) > rb.limit {
		rb.commit()
		return rb.w.Write(p)
	}
	return rb.buf.Write(p)
}

// Flush commits the buffered response and flushes it: the rest streams.
func (rb *respBuffer) Flush() {
	if !rb.streaming {
		if !rb.wroteHeader {
			rb.WriteHeader(http.StatusOK)
		}
		rb.commit()
	}
	_ = http.NewResponseController(rb.w).Flush()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (rb *respBuffer) Unwrap() http.ResponseWriter { return rb.w }

// commit writes the buffered header and body and switches to streaming.
func (rb *respBuffer) commit() {
	if rb.streaming {
		return
	}
	rb.streaming = true
	h := rb.w.Header()
	for k, vv := range rb.header {
		h[k] = vv
	}
	if !rb.wroteHeader {
		rb.status = http.StatusOK
	}
	rb.w.WriteHeader(rb.status)
	if rb.buf.Len() > 0 {
		_, _ = rb.w.Write(rb.buf.Bytes())
	}
	rb.buf = bytes.Buffer{}
}

// encoded reports whether a response header names a Content-Encoding other
// than identity.
func encoded(h http.Header) bool {
	for _, line := range h.Values("Content-Encoding") {
		for _, c := range strings.Split(line, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}
