package validate

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/santhosh-tekuri/jsonschema/v6"
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
	route := m.op.route
	if m.op.resp30 != nil {
		route = m.op.resp30 // 3.1: never a validator compiled per response
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: m.pathParams.asMap(), Route: route, Options: v.paramOpts},
		Status:                 rb.status,
		Header:                 rb.header,
		Options:                v.respOpts,
	}
	in.SetBodyBytes(rb.buf.Bytes())
	c := &collector{max: v.cfg.MaxErrors}
	err := safely(func() error { return openapi3filter.ValidateResponse(context.Background(), in) })
	switch {
	case err == nil:
		v.checkResponse2020(r, m, rb, c)
	case errors.Is(err, errPanic):
		c.add(FieldError{In: "response", Reason: reasonNotValidated})
	default:
		c.addKin("response", "", err)
	}
	if len(c.fields)+c.omitted > 0 {
		v.stats.badResponses.Add(1)
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

// compileResponses31 prepares the response validation of a 3.1 operation
// without a validator compiled per response: kin-openapi gets resp30, a
// route whose document says 3.0.3 and whose response schemas its 3.0
// visitor judges as 3.1 means them ("nullable" cleared). A JSON body whose
// schema has 2020-12 keywords is left out of that copy and judged by a
// validator compiled here, once (respBody2020); a header or a non-JSON
// body with such a schema is not validated.
func (oc *opCompiler) compileResponses31(o *operation, op *openapi3.Operation) {
	o.resp30 = o.route30
	if op.Responses == nil || op.Responses.Len() == 0 {
		return
	}
	cp := *op
	cp.Responses = openapi3.NewResponsesWithCapacity(op.Responses.Len())
	for code, ref := range op.Responses.Map() {
		if ref == nil || ref.Value == nil {
			cp.Responses.Set(code, ref)
			continue
		}
		resp := *ref.Value
		if ref.Value.Headers != nil {
			resp.Headers = make(openapi3.Headers, len(ref.Value.Headers))
			for name, h := range ref.Value.Headers {
				if h == nil || h.Value == nil {
					resp.Headers[name] = h
				} else if hc := header30(h.Value); hc != nil {
					resp.Headers[name] = &openapi3.HeaderRef{Value: hc}
				}
			}
		}
		if ref.Value.Content != nil {
			resp.Content = make(openapi3.Content, len(ref.Value.Content))
			for ct, media := range ref.Value.Content {
				resp.Content[ct] = media
				if media == nil || media.Schema == nil || media.Schema.Value == nil {
					continue
				}
				mc := *media
				if mc.Schema = schema30(media.Schema); mc.Schema == nil && isJSON(mediaType(ct)) {
					oc.resp2020.add(media.Schema, o, func(s *jsonschema.Schema) {
						if o.respBody2020 == nil {
							o.respBody2020 = make(map[*openapi3.MediaType]*jsonschema.Schema)
						}
						o.respBody2020[media] = s
					})
				}
				resp.Content[ct] = &mc
			}
		}
		cp.Responses.Set(code, &openapi3.ResponseRef{Value: &resp})
	}
	r := *o.route30
	r.Operation = &cp
	o.resp30 = &r
}

// schema30 returns the schema ref the 3.0 visitor judges s with (s, or a
// copy without "nullable"), or nil when s needs the 2020-12 validator.
func schema30(s *openapi3.SchemaRef) *openapi3.SchemaRef {
	ls := as30Schema(s.Value)
	switch {
	case ls == nil:
		return nil
	case ls == s.Value:
		return s
	}
	return &openapi3.SchemaRef{Ref: s.Ref, Value: ls}
}

// header30 returns the response header kin-openapi's 3.0 visitor can
// judge for h, or nil when a schema of h needs the 2020-12 validator.
func header30(h *openapi3.Header) *openapi3.Header {
	c := *h
	if h.Schema != nil && h.Schema.Value != nil {
		if c.Schema = schema30(h.Schema); c.Schema == nil {
			return nil
		}
	}
	if h.Content != nil {
		c.Content = make(openapi3.Content, len(h.Content))
		for ct, m := range h.Content {
			c.Content[ct] = m
			if m != nil && m.Schema != nil && m.Schema.Value != nil {
				mc := *m
				if mc.Schema = schema30(m.Schema); mc.Schema == nil {
					return nil
				}
				c.Content[ct] = &mc
			}
		}
	}
	return &c
}

// warnUncompiledResponses lists the operations with a response schema no
// 2020-12 validator could be compiled from in Warnings: those responses
// are not validated (their requests are).
func (v *Validator) warnUncompiledResponses(failed []uncompiled) {
	for _, f := range failed {
		v.warnings = append(v.warnings, Problem{Pointer: f.op.pointer, Reason: "a response schema cannot be compiled as JSON Schema 2020-12; its responses are not validated"})
	}
	if len(failed) > 0 {
		sort.SliceStable(v.warnings, func(i, j int) bool { return v.warnings[i].Pointer < v.warnings[j].Pointer })
	}
}

// checkResponse2020 judges a JSON response body whose 3.1 schema has
// 2020-12 keywords with the validator compiled at load, reporting its
// failures to c; kin-openapi, given resp30, skipped it. It skips what
// kin-openapi's ValidateResponse skips: HEAD, 301, 304, 307 and 308.
func (v *Validator) checkResponse2020(r *http.Request, m *match, rb *respBuffer, c *collector) {
	switch rb.status {
	case http.StatusNotModified, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusMovedPermanently:
		return
	}
	if r.Method == http.MethodHead || m.op.respBody2020 == nil {
		return
	}
	responses := m.op.route.Operation.Responses
	ref := responses.Status(rb.status)
	if ref == nil {
		ref = responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return
	}
	cs := m.op.respBody2020[ref.Value.Content.Get(rb.header.Get("Content-Type"))]
	if cs == nil {
		return
	}
	val, err := parseJSON(rb.buf.Bytes(), v.cfg.JSON)
	if err != nil {
		c.add(FieldError{In: "response", Reason: "not valid JSON"})
		return
	}
	if rejected, passed := check2020(cs, val, c, "response", ""); !rejected && !passed {
		c.add(FieldError{In: "response", Reason: reasonNotValidated})
	}
}
