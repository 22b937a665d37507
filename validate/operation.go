package validate

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// operation is one method of one path of the document, with everything
// validating its requests needs, compiled at load.
type operation struct {
	method   string
	entry    *pathEntry
	route    *routers.Route
	params   []opParam
	body     *openapi3.RequestBody
	formBody *openapi3.RequestBody // body with form schemas made explicit for kin-openapi (formbody.go) and, in 3.1, readable by its 3.0 visitor (openapi31.go); nil: body
	pointer  string                // JSON pointer of the operation in the document
	security []secRequirement
	hasQuery bool // some parameter is in the query: the query string is parsed
	hasDeep  bool // some parameter is a deepObject: deepObjectGuard runs first
	skipped  bool // Config.SkipBrokenOperations: requests pass unvalidated

	// fanout holds the fan-out of the schemas of JSON media types (budget.go).
	fanout map[*openapi3.MediaType]int64
	// bodySchemas holds the compiled schemas of JSON media types.
	bodySchemas map[*openapi3.MediaType]*compiledSchema

	// OpenAPI 3.1 schemas validated by the 3.0 visitor (openapi31.go).
	// kin-openapi is only ever given route30, so that it never compiles a
	// JSON Schema validator for a request.
	route30     *routers.Route                             // route whose document says 3.0.3
	body30      map[*openapi3.MediaType]*openapi3.Schema   // JSON media types: the schema for the 3.0 visitor
	body2020    map[*openapi3.MediaType]*jsonschema.Schema // JSON media types with 2020-12 keywords, compiled once, final (jsonschema2020.go)
	decoded2020 map[*openapi3.MediaType]*jsonschema.Schema // other media types (forms, multipart, text) with 2020-12 keywords, compiled once, final for the decoded body

	// formExtras says what urlencoded form media types accept in fields
	// their properties do not declare (formextra.go); absent: anything.
	formExtras map[*openapi3.MediaType]*formExtra
	// forms holds the compiled decoders of urlencoded form media types (formbody.go).
	forms map[*openapi3.MediaType]*compiledForm

	// OpenAPI 3.1 response validation without per-response compilation (response.go).
	resp30       *routers.Route                             // what kin-openapi validates responses with
	respBody2020 map[*openapi3.MediaType]*jsonschema.Schema // JSON response media types with 2020-12 keywords, compiled once
}

// opParam is one parameter of an operation and what was compiled for it.
type opParam struct {
	*openapi3.Parameter
	kin        *openapi3.Parameter // what kin-openapi validates: Parameter, or cookieForKin's copy
	repeatable bool                // may appear more than once
	header     string              // a header parameter: its canonical name (the key of http.Header)
	json       bool                // declared with a JSON content type
	deepObject bool                // a query parameter of style deepObject
	deepDepth  int                 // deepObject: the most brackets a key may have
	compiled   *compiledParam      // nil: kin-openapi decides
	absence    absence             // when compiled is nil: how to see that the optional parameter is absent
	visit30    bool                // OpenAPI 3.1: validated by the 3.0 visitor with route30
	// OpenAPI 3.1 schemas the 3.0 visitor cannot judge (2020-12 keywords,
	// or "nullable" in a content parameter), judged by v2020 instead.
	shape        *compiledParam      // decodes the common shapes for v2020; nil: decodeOnly does
	decodeOnly   *openapi3.Parameter // kin-openapi's decoding of the value for v2020 (decodeOnlyParam)
	decodeSchema *openapi3.Schema    // the schema of decodeOnly whose error carries the value
	v2020        *jsonschema.Schema  // compiled once, final for decoded values
}

type secRequirement []secScheme

type secScheme struct {
	name   string
	scheme *openapi3.SecurityScheme
	scopes []string
}

// opCompiler compiles the operations of one document.
type opCompiler struct {
	v        *Validator
	doc      *openapi3.T
	doc30    *openapi3.T     // 3.1 documents: a copy that says 3.0.3, for the 3.0 visitor
	schemas  *schemaCompiler // nil when the document brings its own formats
	schemes  openapi3.SecuritySchemes
	set2020  set2020
	resp2020 set2020 // response schemas (writeOnly properties forbidden)
	needAuth bool    // some operation has a security requirement
	fanouts  map[*openapi3.Schema]int64
}

func (v *Validator) newOpCompiler() *opCompiler {
	doc := v.doc
	oc := &opCompiler{v: v, doc: doc, fanouts: map[*openapi3.Schema]int64{}, resp2020: set2020{forbid: "writeOnly"}}
	if v.is31 {
		d := *doc
		d.OpenAPI = "3.0.3"
		oc.doc30 = &d
	}
	// Compiled schemas know the default format validators only.
	if len(doc.GetSchemaValidationOptions()) == 0 {
		oc.schemas = &schemaCompiler{intern: newInterned(), is31: v.is31, formats: formatValidators(), done: map[*openapi3.Schema]*compiledSchema{}, busy: map[*openapi3.Schema]bool{}}
		v.intern = oc.schemas.intern
	}
	if doc.Components != nil {
		oc.schemes = doc.Components.SecuritySchemes
	}
	return oc
}

// compileOperations fills v.ops from the document's paths.
func (v *Validator) compileOperations() error {
	oc := v.newOpCompiler()
	if v.doc.Paths != nil {
		for tmpl, item := range v.doc.Paths.Map() {
			if err := oc.compilePath(tmpl, item); err != nil {
				return err
			}
		}
	}
	if err := v.skipUncompiled(oc.set2020.compile(v.doc)); err != nil {
		return err
	}
	v.warnUncompiledResponses(oc.resp2020.compile(v.doc))
	if oc.needAuth && v.cfg.Authenticate == nil {
		return errors.New("validate: the spec has security requirements: set Config.Authenticate or Config.SkipSecurity")
	}
	return nil
}

// compilePath adds the operations of one path item.
func (oc *opCompiler) compilePath(tmpl string, item *openapi3.PathItem) error {
	if item == nil {
		return nil
	}
	entry, err := oc.v.ops.add(tmpl)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	for method, op := range item.Operations() {
		if oc.v.broken[pointerOf([]string{"paths", tmpl, strings.ToLower(method)})] {
			entry.setOperation(method, &operation{method: method, entry: entry, skipped: true})
			entry.allow = append(entry.allow, method)
			continue
		}
		o, err := oc.compileOperation(entry, tmpl, item, method, op)
		if err != nil {
			return err
		}
		entry.setOperation(method, o)
		entry.allow = append(entry.allow, method)
	}
	if entry.methods[http.MethodGet] != nil && entry.methods[http.MethodHead] == nil {
		entry.allow = append(entry.allow, http.MethodHead) // validated as the GET
	}
	sort.Strings(entry.allow)
	return nil
}

func (oc *opCompiler) compileOperation(entry *pathEntry, tmpl string, item *openapi3.PathItem, method string, op *openapi3.Operation) (*operation, error) {
	o := &operation{
		method:  method,
		entry:   entry,
		route:   &routers.Route{Spec: oc.doc, Path: tmpl, PathItem: item, Method: method, Operation: op},
		pointer: pointerOf([]string{"paths", tmpl, strings.ToLower(method)}),
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		o.body = op.RequestBody.Value
		o.formBody = formBodyForKin(o.body)
	}
	if oc.v.is31 {
		o.route30 = route30(o.route, oc.doc30)
		if oc.v.cfg.Responses != ResponseOff {
			oc.compileResponses31(o, op)
		}
	}
	for _, p := range mergeParams(item.Parameters, op.Parameters) {
		o.params = append(o.params, oc.compileParam(o, p))
	}
	if oc.v.is31 {
		for i := range o.params {
			oc.compileParam2020(o, i)
		}
	}
	oc.compileBody(o)
	security, err := oc.compileSecurity(op)
	if err != nil {
		return nil, fmt.Errorf("validate: %s %s: %w", method, tmpl, err)
	}
	o.security = security
	return o, nil
}

// compileParam builds the record of parameter p of o.
func (oc *opCompiler) compileParam(o *operation, p *openapi3.Parameter) opParam {
	op := opParam{Parameter: p, kin: cookieForKin(p), repeatable: mayRepeat(p), json: jsonContent(p)}
	if p.In == openapi3.ParameterInHeader {
		op.header = http.CanonicalHeaderKey(p.Name)
	}
	if p.In == openapi3.ParameterInPath && p.Style == openapi3.SerializationMatrix {
		oc.v.matrix = true
	}
	if p.In == openapi3.ParameterInQuery {
		o.hasQuery = true
		if p.Style == openapi3.SerializationDeepObject {
			o.hasDeep = true
			op.deepObject = true
			var ps *openapi3.Schema
			if p.Schema != nil {
				ps = p.Schema.Value
			}
			op.deepDepth = schemaDepth(ps, oc.v.cfg.JSON.MaxDepth)
		}
	}
	if oc.schemas != nil {
		op.compiled = oc.schemas.compileParam(p)
	}
	op.absence = absenceOf(op.kin)
	if oc.v.is31 {
		op.visit30 = param30(p)
		if !op.visit30 && p.Content == nil && p.Schema != nil && p.Schema.Value != nil {
			// "nullable" (no effect in 3.1) is all that keeps the 3.0
			// visitor from it: give kin-openapi a copy without it.
			if s := as30Schema(p.Schema.Value); s != nil {
				c := *op.kin
				c.Schema = &openapi3.SchemaRef{Ref: p.Schema.Ref, Value: s}
				op.kin, op.visit30 = &c, true
			}
		}
	}
	return op
}

// compileBody compiles the schemas of o's JSON request bodies.
func (oc *opCompiler) compileBody(o *operation) {
	if o.body == nil {
		return
	}
	o.fanout = make(map[*openapi3.MediaType]int64)
	for ct, media := range o.body.Content {
		if media != nil && media.Schema != nil && mediaType(ct) == "application/x-www-form-urlencoded" {
			if fe := oc.compileFormExtra(o, media.Schema.Value); fe != nil {
				fe.enc = media.Encoding
				if o.formExtras == nil {
					o.formExtras = make(map[*openapi3.MediaType]*formExtra)
				}
				o.formExtras[media] = fe
			}
			if cf := oc.compileForm(media); cf != nil {
				if o.forms == nil {
					o.forms = make(map[*openapi3.MediaType]*compiledForm)
				}
				o.forms[media] = cf
			}
		}
		if media != nil && media.Schema != nil && isJSON(mediaType(ct)) {
			o.fanout[media] = fanout(media.Schema.Value, oc.fanouts)
		}
	}
	if oc.v.is31 {
		oc.compileBody31(o)
	}
	if oc.schemas == nil {
		return
	}
	o.bodySchemas = make(map[*openapi3.MediaType]*compiledSchema)
	for ct, media := range o.body.Content {
		if media != nil && media.Schema != nil && isJSON(mediaType(ct)) {
			if cs := oc.schemas.compile(media.Schema.Value); cs != nil {
				o.bodySchemas[media] = cs
			}
		}
	}
}

// compileSecurity resolves the security requirements of op (the
// document's when op has none) to their schemes.
func (oc *opCompiler) compileSecurity(op *openapi3.Operation) ([]secRequirement, error) {
	if oc.v.cfg.SkipSecurity {
		return nil, nil
	}
	reqs := op.Security
	if reqs == nil {
		reqs = &oc.doc.Security
	}
	var out []secRequirement
	for _, req := range *reqs {
		var sr secRequirement
		for name, scopes := range req {
			ref := oc.schemes[name]
			if ref == nil || ref.Value == nil {
				return nil, fmt.Errorf("security scheme %q is not declared", name)
			}
			sr = append(sr, secScheme{name: name, scheme: ref.Value, scopes: scopes})
		}
		sort.Slice(sr, func(i, j int) bool { return sr[i].name < sr[j].name })
		out = append(out, sr)
		if len(sr) > 0 {
			oc.needAuth = true
		}
	}
	return out, nil
}

// mergeParams returns the path item's parameters overridden by the
// operation's (same name and location).
func mergeParams(item, op openapi3.Parameters) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, ref := range item {
		if ref == nil || ref.Value == nil {
			continue
		}
		if op.GetByInAndName(ref.Value.In, ref.Value.Name) != nil {
			continue
		}
		out = append(out, ref.Value)
	}
	for _, ref := range op {
		if ref != nil && ref.Value != nil {
			out = append(out, ref.Value)
		}
	}
	return out
}

// cookieForKin returns the parameter kin-openapi should validate for p.
// A cookie's default serialisation is form with explode, which for an
// array or object means a cookie per item: a Cookie header cannot carry
// that, and kin-openapi refuses every such parameter, even an optional one
// that is absent. What clients send is the unexploded form (ids=1,2), so
// that is how such cookies are read: a copy of p with explode off.
func cookieForKin(p *openapi3.Parameter) *openapi3.Parameter {
	if p.In != openapi3.ParameterInCookie || p.Schema == nil || p.Schema.Value == nil || p.Explode != nil && !*p.Explode {
		return p
	}
	if t := p.Schema.Value.Type; t == nil || !t.Includes(openapi3.TypeArray) && !t.Includes(openapi3.TypeObject) {
		return p
	}
	c := *p
	explode := false
	c.Explode = &explode
	return &c
}

// compileParam2020 queues for the JSON Schema 2020-12 validator a 3.1
// parameter that the 3.0 visitor cannot validate: kin-openapi would compile
// a validator for it on every request. A content parameter is judged by
// the schema of its one JSON media type; one kin-openapi cannot decode
// (several media types, or none JSON) is refused before any schema.
func (oc *opCompiler) compileParam2020(o *operation, i int) {
	p := &o.params[i]
	if p.visit30 {
		return
	}
	schema := p.Schema
	if p.Content != nil {
		schema = nil
		if m := p.Content.Get("application/json"); len(p.Content) == 1 && m != nil {
			schema = m.Schema
		}
	}
	if schema == nil || schema.Value == nil {
		return
	}
	shape := paramShape(p.Parameter)
	decodeOnly, decodeSchema := decodeOnlyParam(p.kin)
	oc.set2020.add(schema, o, func(s *jsonschema.Schema) {
		q := &o.params[i]
		q.shape, q.decodeOnly, q.decodeSchema, q.v2020 = shape, decodeOnly, decodeSchema, s
	})
}
