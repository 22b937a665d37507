package validate

import (
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Fields of an application/x-www-form-urlencoded body that the schema's
// properties do not declare. kin-openapi's form decoder reads declared
// properties only, so such fields would reach the backend unchecked.
// They are judged here as JSON Schema judges additional properties:
// "additionalProperties: false" refuses them, a schema there validates
// each, and without it any value passes.

// formExtra is what a form media type's schema says of undeclared fields,
// compiled at load.
type formExtra struct {
	enc      map[string]*openapi3.Encoding // the media type's encoding: which properties are deepObject
	forbid   bool                          // additionalProperties: false
	schema   *openapi3.Schema              // the additionalProperties schema, for kin-openapi's 3.0 visitor (nil: none, or v2020)
	compiled *compiledSchema               // its compiled form, when it has one
	v2020    *jsonschema.Schema            // OpenAPI 3.1 with 2020-12 keywords: the validator compiled at load
}

// compileFormExtra returns what s says of undeclared fields, or nil when
// any value passes. An additionalProperties schema with 2020-12 keywords is
// queued in oc.set2020 for o.
func (oc *opCompiler) compileFormExtra(o *operation, s *openapi3.Schema) *formExtra {
	if s == nil || len(s.PatternProperties) > 0 {
		return nil // a field matching a pattern is not additional: left to the schema's validator
	}
	ap := s.AdditionalProperties
	switch {
	case ap.Has != nil && !*ap.Has:
		return &formExtra{forbid: true}
	case ap.Schema == nil || ap.Schema.Value == nil:
		return nil
	}
	fe := &formExtra{schema: ap.Schema.Value}
	if oc.v.is31 {
		if fe.schema = as30Schema(ap.Schema.Value); fe.schema == nil {
			oc.set2020.add(ap.Schema, o, func(v *jsonschema.Schema) { fe.v2020 = v })
			return fe
		}
	}
	if oc.schemas != nil {
		fe.compiled = oc.schemas.compile(ap.Schema.Value)
	}
	return fe
}

// formDeclares reports whether s declares the form field key: a property of
// s or of its allOf, anyOf or oneOf members, which kin-openapi decodes. A
// key name[a][b] is part of property name only as kin-openapi's deepObject
// decoder keeps it: name encoded deepObject (enc), and a, then b, members
// its schema declares or decodes as additional properties. Any other
// bracketed key (a[x] beside a string a, a malformed d[x or d[x]junk, a
// member the object does not declare) is undeclared, and judged as such:
// kin-openapi never decodes it, and a backend reading it as a member would
// otherwise get it unchecked.
func formDeclares(s *openapi3.Schema, key string, enc map[string]*openapi3.Encoding, seen []*openapi3.Schema) bool {
	if s == nil || slices.Contains(seen, s) {
		return false
	}
	seen = append(seen, s)
	if _, ok := s.Properties[key]; ok {
		return true
	}
	if name, rest, deep := strings.Cut(key, "["); deep {
		if p := s.Properties[name]; p != nil && p.Value != nil && deepObjectEncoded(enc, name) && deepMember(p.Value, "["+rest, 0) {
			return true
		}
	}
	for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range refs {
			if r != nil && formDeclares(r.Value, key, enc, seen) {
				return true
			}
		}
	}
	return false
}

// deepObjectEncoded reports whether enc encodes property name with the
// deepObject style.
func deepObjectEncoded(enc map[string]*openapi3.Encoding, name string) bool {
	e := enc[name]
	return e != nil && e.SerializationMethod().Style == openapi3.SerializationDeepObject
}

// deepMember reports whether path, the rest of a deepObject key ("[a][b]"),
// names members kin-openapi's deepObject decoder keeps, and so validates,
// in the value of property schema s. Its choices are followed where they
// are simple and refused (an undeclared key) where they are not: at the
// property itself, an allOf, anyOf or oneOf of more than one member, or
// beside properties of its own, keeps one member's value or none, so only
// a single member without siblings is looked into; below it, a schema of
// type object counts its own properties only, an untyped one its members'
// too. An index under an array continues into its items; under
// additionalProperties: true any member is kept.
func deepMember(s *openapi3.Schema, path string, depth int) bool {
	if s == nil || depth > 16 {
		return false
	}
	if depth == 0 {
		if n := len(s.AllOf) + len(s.AnyOf) + len(s.OneOf); n > 0 {
			if n > 1 || len(s.Properties) > 0 {
				return false
			}
			for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
				if len(refs) == 1 && refs[0] != nil {
					s = refs[0].Value
				}
			}
			if s == nil || !s.Type.Is(openapi3.TypeObject) {
				return false
			}
		}
	}
	if len(path) < 2 || path[0] != '[' {
		return false
	}
	end := strings.IndexByte(path, ']')
	if end < 0 || strings.IndexByte(path[1:end], '[') >= 0 {
		return false
	}
	seg, rest := path[1:end], path[end+1:]
	var member *openapi3.Schema
	switch ap := s.AdditionalProperties; {
	case isArraySchema(s) && isIndex(seg):
		if s.Items == nil {
			return false
		}
		member = s.Items.Value
	case s.Properties[seg] != nil:
		member = s.Properties[seg].Value
	case s.Type == nil:
		ps, ok := declaredMember(s, seg, 0)
		if !ok {
			return false
		}
		member = ps
	case ap.Schema != nil:
		member = ap.Schema.Value
	case ap.Has != nil && *ap.Has:
		return true // the raw member is kept, whatever is below it
	default:
		return false // kin-openapi drops a member its object does not declare
	}
	return rest == "" || deepMember(member, rest, depth+1)
}

// isIndex reports whether seg is an array index: decimal digits.
func isIndex(seg string) bool {
	if seg == "" || len(seg) > 9 {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// declaredMember returns the schema of property name of s, or of one of
// its allOf, anyOf or oneOf members when s has no type (kin-openapi then
// merges what its members decode).
func declaredMember(s *openapi3.Schema, name string, depth int) (*openapi3.Schema, bool) {
	if s == nil || depth > 16 {
		return nil, false
	}
	if r := s.Properties[name]; r != nil {
		return r.Value, true
	}
	if s.Type != nil {
		return nil, false
	}
	for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range refs {
			if r != nil {
				if ps, ok := declaredMember(r.Value, name, depth+1); ok {
					return ps, true
				}
			}
		}
	}
	return nil, false
}

// checkFormExtras validates the undeclared fields of a parsed form against
// fe (nil: any value passes). It returns false when it reported a failure
// to c.
func (v *Validator) checkFormExtras(form url.Values, schema *openapi3.Schema, fe *formExtra, c *collector) bool {
	if fe == nil {
		return true
	}
	ok := true
	for key, vals := range form {
		if formDeclares(schema, key, fe.enc, nil) {
			continue
		}
		ptr := pointerOf([]string{key})
		if fe.forbid {
			c.add(FieldError{In: "body", Pointer: ptr, Reason: propertyNotAllowed(key)})
			ok = false
			continue
		}
		val, reason := formValue(vals, fe)
		if reason != "" {
			c.add(FieldError{In: "body", Pointer: ptr, Reason: reason})
			ok = false
			continue
		}
		if !v.judgeFormValue(val, fe, ptr, c) {
			ok = false
		}
	}
	return ok
}

// formValue is the JSON value of an undeclared field's values by the
// additionalProperties schema: an array of them when it is an array
// schema, otherwise the one value (a field given twice is refused),
// converted to the schema's single primitive type (a string when it has
// none). reason is non-empty when the values do not convert.
func formValue(vals []string, fe *formExtra) (val any, reason string) {
	s := fe.schema
	if s == nil && fe.v2020 != nil {
		s = anySchema // judged whole by the 2020-12 validator: strings
	}
	if isArraySchema(s) {
		var items *openapi3.Schema
		if s.Items != nil {
			items = s.Items.Value
		}
		out := make([]any, len(vals))
		for i, raw := range vals {
			if out[i], reason = formScalar(raw, items); reason != "" {
				return nil, reason
			}
		}
		return out, ""
	}
	if len(vals) > 1 {
		return nil, reasonRepeated
	}
	return formScalar(vals[0], s)
}

// anySchema is an empty schema, never modified.
var anySchema = &openapi3.Schema{}

// formScalar converts one form value to the single primitive type of s.
func formScalar(raw string, s *openapi3.Schema) (any, string) {
	typ, ok := primitiveType(&openapi3.SchemaRef{Value: s})
	if !ok || typ == openapi3.TypeString {
		return raw, ""
	}
	if v, ok := scalarOf(typ, raw); ok {
		return v, ""
	}
	return nil, "must be of type " + typ
}

// judgeFormValue validates an undeclared field's value against the
// additionalProperties schema, reporting failures to c under ptr; false
// when it failed.
func (v *Validator) judgeFormValue(val any, fe *formExtra, ptr string, c *collector) bool {
	if fe.compiled != nil && fe.compiled.check(val) == valid {
		return true
	}
	one := &collector{max: c.max}
	if fe.v2020 != nil {
		if rejected, passed := check2020(fe.v2020, val, one, "body", ""); !rejected && !passed {
			one.add(FieldError{In: "body", Reason: reasonNotValidated})
		}
	} else {
		err := safely(func() error { return fe.schema.VisitJSON(val, v.bodyOpts...) })
		switch {
		case err == nil:
		case errors.Is(err, errPanic):
			one.add(FieldError{In: "body", Reason: reasonNotValidated})
		default:
			one.addKin("body", "", err)
		}
	}
	for _, f := range one.fields {
		f.Pointer = ptr + f.Pointer
		c.add(f)
	}
	return len(one.fields) == 0
}
