package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// match is the outcome of looking a request up: its operation (nil without
// a spec or for pass-through), path parameters, applicable rules and body
// limit.
type match struct {
	op         *operation
	pathParams pathValues
	rules      []*compiledRule
	limit      int64
	passed     bool   // unknown path/method passed through unvalidated
	path       string // the canonical escaped path ("" for a target that is not a path)
}

// appendRules appends to rules those of e (nil for none) that apply to
// method.
func appendRules(rules []*compiledRule, e *pathEntry, method string) []*compiledRule {
	if e == nil {
		return rules
	}
	for _, cr := range e.rules {
		if cr.appliesTo(method) {
			rules = append(rules, cr)
		}
	}
	return rules
}

// lookupPath looks p up in t: first with each base path that prefixes it
// removed (longest first), then as it is.
func (v *Validator) lookupPath(t *pathTable, p string, vals []string) (*pathEntry, []string) {
	for _, bp := range v.basePaths {
		if rest, ok := strings.CutPrefix(p, bp); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				rest = "/"
			}
			if e, vs := t.lookup(rest, vals); e != nil {
				return e, vs
			}
		}
	}
	return t.lookup(p, vals)
}

// find looks r up. It returns a 404 or 405 *Error for requests outside the
// spec unless Config.PassThroughUnknown, and a 500 for an operation skipped
// at load with Config.RejectSkippedOperations.
func (v *Validator) find(r *http.Request) (*match, error) {
	// The match and room for two path parameter values, in one allocation.
	fm := new(struct {
		match
		buf [2]string
	})
	vals, err := v.findInto(r, &fm.match, fm.buf[:0])
	if err != nil {
		return nil, err
	}
	fm.pathParams.vals = vals
	return &fm.match, nil
}

// findInto is find filling in m, except for the values of the path
// parameters: they are appended to buf and returned, for the caller to put
// in m.pathParams.vals. Both m and buf may then live on the caller's stack
// (a pointer stored through m would move buf to the heap).
func (v *Validator) findInto(r *http.Request, m *match, buf []string) (_ []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			v.logPanic(r, p)
			err = newError(ErrInternal, http.StatusInternalServerError, "", nil, fmt.Errorf("validate: panic: %v", p))
		}
	}()
	*m = match{limit: v.cfg.MaxBodyBytes}
	p, isPath, perr := v.canonicalPath(r)
	if perr != nil {
		return nil, perr
	}
	m.path = p
	// The rules are gathered in a local slice, not appended to through m,
	// so that m's fields do not leak and m may stay on the caller's stack.
	var rules []*compiledRule
	for _, cr := range v.global {
		if cr.appliesTo(r.Method) {
			rules = append(rules, cr)
		}
	}
	if isPath && !v.rules.empty() {
		e, _ := v.lookupPath(&v.rules, p, nil)
		rules = appendRules(rules, e, r.Method)
		if trimmed, ok := withoutTrailingSlash(p); ok {
			if e2, _ := v.lookupPath(&v.rules, trimmed, nil); e2 != e {
				rules = appendRules(rules, e2, r.Method)
			}
		}
	}
	m.rules = rules
	for _, cr := range rules {
		if cr.MaxBodyBytes > 0 && cr.MaxBodyBytes < m.limit {
			m.limit = cr.MaxBodyBytes
		}
	}
	if v.doc == nil {
		return nil, nil
	}
	var e *pathEntry
	var vals []string
	if isPath {
		e, vals = v.lookupPath(&v.ops, p, buf[:0])
		if trimmed, ok := withoutTrailingSlash(p); e == nil && ok {
			e, vals = v.lookupPath(&v.ops, trimmed, buf[:0])
		}
	}
	if e == nil {
		if v.cfg.PassThroughUnknown {
			m.passed = true
			return nil, nil
		}
		return nil, newError(ErrNotFound, http.StatusNotFound, "no operation of the API matches this path", nil, nil)
	}
	op := e.operation(r.Method)
	if op == nil && r.Method == http.MethodHead {
		op = e.operation(http.MethodGet) // HEAD is GET without a body (RFC 9110 9.3.2)
	}
	if op == nil {
		if v.cfg.PassThroughUnknown {
			m.passed = true
			return nil, nil
		}
		err := newError(ErrMethodNotAllowed, http.StatusMethodNotAllowed, "the path does not accept this method", nil, nil)
		err.Allow = e.allow
		return nil, err
	}
	if op.skipped {
		if v.cfg.RejectSkippedOperations {
			return nil, newError(ErrInternal, http.StatusInternalServerError, "this operation of the API cannot be validated", nil, nil)
		}
		m.passed = true
		return nil, nil
	}
	m.op = op
	if len(vals) > 0 {
		m.pathParams.names = e.names
		for i, raw := range vals {
			if strings.IndexByte(raw, '%') >= 0 {
				u, err := url.PathUnescape(raw)
				if err != nil {
					return nil, newError(ErrInvalid, http.StatusBadRequest, "the request is invalid", &collector{max: 1, fields: []FieldError{{In: "path", Name: clip(e.names[i], maxName), Reason: "malformed percent-encoding"}}}, err)
				}
				vals[i] = u
			}
		}
	}
	return vals, nil
}

// ValidateRequest validates r, whose body has already been read into body
// (r.Body is not read; pass nil for no body). It returns the body to
// forward: body itself, or with Config.InjectDefaults a re-encoded body with
// schema defaults filled in. A rejected request gives an *Error. It does
// not modify r.
func (v *Validator) ValidateRequest(r *http.Request, body []byte) ([]byte, error) {
	out, err := v.validateRequest(r, body)
	v.stats.count(err)
	return out, err
}

func (v *Validator) validateRequest(r *http.Request, body []byte) ([]byte, error) {
	var mv match
	var buf [2]string // path parameter values of templates with up to 2 parameters, the common case
	vals, err := v.findInto(r, &mv, buf[:0])
	if err != nil {
		return body, err
	}
	mv.pathParams.vals = vals // set here, not through a pointer, so that buf stays on the stack
	m := &mv
	if m.op == nil && len(m.rules) == 0 {
		return body, nil // nothing applies: not even the body limit
	}
	if int64(len(body)) > m.limit {
		return body, tooLarge(m.limit)
	}
	return v.check(r, m, body)
}

func tooLarge(limit int64) *Error {
	return newError(ErrTooLarge, http.StatusRequestEntityTooLarge,
		"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes", nil, nil)
}

// check validates a request found by find.
func (v *Validator) check(r *http.Request, m *match, body []byte) (out []byte, err error) {
	out = body
	defer func() {
		if p := recover(); p != nil {
			v.logPanic(r, p)
			out, err = body, newError(ErrInternal, http.StatusInternalServerError, "", nil, fmt.Errorf("validate: panic: %v", p))
		}
	}()
	if e := singleContentType(r, body); e != nil {
		return body, e
	}
	c := &collector{max: v.cfg.MaxErrors}
	for _, cr := range m.rules {
		if e := cr.check(v, r, body, c); e != nil {
			return body, e
		}
	}
	if op := m.op; op != nil {
		if len(op.security) > 0 {
			if e := v.authenticate(r, op, body); e != nil {
				return body, e
			}
		}
		n := len(c.fields) + c.omitted
		v.checkParams(r, m, c)
		var e *Error
		out, e = v.checkBody(r, m, body, c, len(c.fields)+c.omitted > n)
		if e != nil {
			return body, e
		}
	}
	if len(c.fields) > 0 {
		return body, newError(ErrInvalid, http.StatusBadRequest, "the request is invalid", c, nil)
	}
	return out, nil
}

func (v *Validator) logPanic(r *http.Request, p any) {
	if v.cfg.Logger != nil {
		v.cfg.Logger.Error("validate: recovered panic during validation", "method", r.Method, "path", clip(r.URL.Path, 200), "panic", clip(fmt.Sprint(p), 500))
	}
}

// errPanic reports a panic recovered by safely.
var errPanic = errors.New("validate: panic in validation")

// safely runs f, turning a panic into errPanic.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return f()
}

// input returns what kin-openapi validates r with, whose query is q: in
// 3.1 documents, on the route whose document says 3.0.3, so that it never
// compiles a validator (openapi31.go).
func (v *Validator) input(r *http.Request, m *match, q *query) *openapi3filter.RequestValidationInput {
	route := m.op.route
	if m.op.route30 != nil {
		route = m.op.route30
	}
	return &openapi3filter.RequestValidationInput{
		Request:     r,
		PathParams:  m.pathParams.asMap(),
		QueryParams: q.all(),
		Route:       route,
		Options:     v.paramOpts,
	}
}

func (v *Validator) checkParams(r *http.Request, m *match, c *collector) {
	op := m.op
	if len(op.params) == 0 {
		return
	}
	var q *query
	if op.hasQuery {
		q = &query{raw: r.URL.RawQuery}
		if err := q.check(); err != nil {
			c.add(FieldError{In: "query", Reason: "malformed query string"})
			return
		}
		if op.hasDeep {
			for i := range op.params {
				p := &op.params[i]
				if !p.deepObject {
					continue
				}
				if reason := v.deepObjectGuard(q.all(), p.Parameter, p.deepDepth); reason != "" {
					c.add(FieldError{In: "query", Name: p.Name, Reason: reason})
					return
				}
			}
		}
	}
	ctx := r.Context()
	var kinIn *openapi3filter.RequestValidationInput // built for the first parameter kin-openapi decodes
	for i := range op.params {
		p := &op.params[i]
		if !p.repeatable && repeated(r, p, q) {
			c.add(FieldError{In: p.In, Name: p.Name, Reason: reasonRepeated})
			continue
		}
		if p.compiled != nil && p.compiled.check(r, m.pathParams, q) == valid {
			continue
		}
		if p.json && !v.checkJSONParam(r, p.Parameter, m.pathParams, q, c) {
			continue
		}
		if p.v2020 == nil && p.absence.absent(r, p.Name, p.header) {
			continue
		}
		if kinIn == nil {
			kinIn = v.input(r, m, q)
		}
		if p.v2020 != nil {
			v.checkParam2020(ctx, kinIn, p, m.pathParams, c)
			continue
		}
		if err := safely(func() error { return openapi3filter.ValidateParameter(ctx, kinIn, p.kin) }); err != nil {
			if errors.Is(err, errPanic) {
				v.logPanic(r, err)
				c.add(FieldError{In: p.In, Name: p.Name, Reason: reasonNotValidated})
				continue
			}
			c.addKin(p.In, p.Name, err)
		}
	}
}

// deepObjectGuard bounds a deepObject parameter before kin-openapi
// materialises it: array indexes and key counts over Config.JSON.MaxMembers
// are refused (a[b][50000000]=x would otherwise allocate by the index), so
// are keys nested deeper than the parameter's schema, and
// so is a key given more than once unless it names an array property.
func (v *Validator) deepObjectGuard(q url.Values, p *openapi3.Parameter, depth int) string {
	n := 0
	for k, vals := range q {
		rest, ok := strings.CutPrefix(k, p.Name)
		if !ok || rest == "" || rest[0] != '[' {
			continue
		}
		rest = rest[1:]
		if strings.Count(rest, "[")+1 > depth {
			// Deeper than the schema goes: kin-openapi would still build the
			// nested maps (hundreds of bytes per bracket).
			return "nested deeper than the schema allows"
		}
		n++
		if n > v.cfg.JSON.MaxMembers {
			return "too many members"
		}
		if len(vals) > 1 && (p.Schema == nil || !deepLeafMayRepeat(p.Schema.Value, rest)) {
			return reasonRepeated
		}
		if p.Schema != nil && !deepPropertyAllowed(p.Schema.Value, rest) {
			// kin-openapi decodes only the declared properties: an undeclared
			// one would reach the backend unchecked.
			return "a property is not allowed here"
		}
		for _, part := range strings.Split(rest, "[") {
			part = strings.TrimSuffix(part, "]")
			if part == "" || part[0] < '0' || part[0] > '9' {
				continue
			}
			if i, err := strconv.Atoi(part); err != nil || i >= v.cfg.JSON.MaxMembers {
				return "array index too large"
			}
		}
	}
	return ""
}

// checkBody validates the body against the operation's requestBody. When
// the request is already rejected on a parameter (rejected), only the
// cheap checks run (a required body, the media type and charset): the
// request is answered with its parameter errors without paying for
// parsing and validating a body, which can cost a thousand times more.
func (v *Validator) checkBody(r *http.Request, m *match, body []byte, c *collector, rejected bool) ([]byte, *Error) {
	rb := m.op.body
	if rb == nil {
		if len(body) > 0 && !v.cfg.AllowUnspecifiedBody {
			c.add(FieldError{In: "body", Reason: "this operation takes no request body"})
		}
		return body, nil
	}
	if len(body) == 0 {
		if rb.Required {
			c.add(FieldError{In: "body", Reason: "required"})
		}
		return body, nil
	}
	if len(rb.Content) == 0 {
		return body, nil
	}
	ct := contentType(r)
	if ct == "" {
		return body, newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "the request has a body but no Content-Type", nil, nil)
	}
	media := rb.Content.Get(ct)
	if media == nil {
		return body, newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType,
			"Content-Type must be one of: "+clip(strings.Join(sortedKeys(rb.Content), ", "), maxReason), nil, nil)
	}
	mt := mediaType(ct)
	if isJSON(mt) && !utf8Charset(ct) {
		return body, errCharset()
	}
	if rejected {
		return body, nil
	}
	if !isJSON(mt) {
		var schema *openapi3.Schema
		if media.Schema != nil {
			schema = media.Schema.Value
		}
		switch mt {
		case "multipart/form-data":
			if !v.checkMultipart(ct, body, schema, c) {
				return body, nil
			}
		case "application/x-www-form-urlencoded":
			if passed, accepted := v.checkForm(body, schema, m.op.formExtras[media], m.op.forms[media], c); !passed || accepted {
				return body, nil
			}
		}
		return body, v.checkOtherBody(r, m, rb, body, c)
	}
	fs := m.op.bodySchemas[media]
	if fs != nil && !v.cfg.InjectDefaults && withinBudget(len(body), m.op.fanout[media], v.cfg.MaxValidationWork) && fs.checkJSON(body, v.cfg.JSON) {
		return body, nil // valid, judged as it was parsed (checkjson.go)
	}
	val, err := parseJSONInterned(body, v.cfg.JSON, v.intern)
	if err != nil {
		je := err.(*jsonError)
		c.add(FieldError{In: "body", Pointer: je.pointer(), Reason: je.reason})
		return body, nil
	}
	if media.Schema == nil || media.Schema.Value == nil {
		return body, nil
	}
	if e := overBudget(val, len(body), media.Schema.Value, m.op.fanout[media], v.cfg.MaxValidationWork); e != nil {
		return body, e
	}
	if fs != nil && !v.cfg.InjectDefaults && fs.check(val) == valid {
		return body, nil
	}
	if cs := m.op.body2020[media]; cs != nil {
		return v.checkBody2020(r, cs, media.Schema.Value, body, val, c), nil
	}
	opts, schema := v.bodyOpts, media.Schema.Value
	if ls := m.op.body30[media]; ls != nil {
		schema = ls
	}
	defaulted := false
	if v.cfg.InjectDefaults {
		opts = append(opts[:len(opts):len(opts)], openapi3.DefaultsSet(func() { defaulted = true }))
	}
	if err := safely(func() error { return schema.VisitJSON(val, opts...) }); err != nil {
		if errors.Is(err, errPanic) {
			v.logPanic(r, err)
			c.add(FieldError{In: "body", Reason: reasonNotValidated})
		} else {
			c.addKin("body", "", err)
		}
		return body, nil
	}
	if defaulted {
		if nb, err := json.Marshal(val); err == nil {
			return nb, nil
		}
	}
	return body, nil
}

// checkOtherBody validates non-JSON bodies (forms, multipart, text) with
// kin-openapi's decoders, on a copy of the request reading from body.
func (v *Validator) checkOtherBody(r *http.Request, m *match, rb *openapi3.RequestBody, body []byte, c *collector) *Error {
	if v.checkDecoded2020(r, m, rb, body, c) {
		return nil
	}
	rc := r.WithContext(r.Context())
	rc.Body = io.NopCloser(bytes.NewReader(body))
	rc.GetBody = nil
	rc.ContentLength = int64(len(body))
	in := v.input(rc, m, nil)
	if m.op.formBody != nil {
		rb = m.op.formBody
	}
	err := safely(func() error { return openapi3filter.ValidateRequestBody(context.Background(), in, rb) })
	switch {
	case err == nil:
	case errors.Is(err, errPanic):
		v.logPanic(r, err)
		c.add(FieldError{In: "body", Reason: reasonNotValidated})
	default:
		c.addKin("body", "", err)
	}
	return nil
}

func sortedKeys(c openapi3.Content) []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
