package validate

import (
	"net/url"
	"strings"

	"github.com/gatekit/gatekit/internal/ascii"
	"github.com/getkin/kin-openapi/openapi3"
)

// Form bodies (application/x-www-form-urlencoded and multipart/form-data)
// are decoded by kin-openapi from their schema, which it wants more
// explicit than OpenAPI requires, rejecting valid requests:
//
//   - a schema with properties but no "type: object" is refused as a whole
//     ("cannot be validated against the spec"), though a form body can only
//     be an object;
//   - only declared properties are decoded, so a required field that is
//     not listed in "properties" is reported missing even when sent.
//
// formSchemaForKin gives kin-openapi a copy of such a schema that says so
// explicitly; the document itself is not modified.

// formSchemaForKin returns the schema kin-openapi should decode and
// validate a form body with: s itself, or a patched copy.
func formSchemaForKin(s *openapi3.Schema) *openapi3.Schema {
	if s == nil {
		return nil
	}
	untyped := s.Type == nil || s.Type.IsEmpty()
	var undeclared []string
	for _, name := range s.Required {
		if _, declared := propertySchema(s, name); !declared {
			undeclared = append(undeclared, name)
		}
	}
	if !untyped && len(undeclared) == 0 {
		return s
	}
	c := *s
	if untyped {
		c.Type = &openapi3.Types{openapi3.TypeObject}
	}
	if len(undeclared) > 0 {
		// An undeclared field is any value: of the additionalProperties
		// schema when there is one, a string (what a form field is) otherwise.
		field := openapi3.NewStringSchema().NewRef()
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			field = ap
		}
		c.Properties = make(openapi3.Schemas, len(s.Properties)+len(undeclared))
		for k, v := range s.Properties {
			c.Properties[k] = v
		}
		for _, name := range undeclared {
			c.Properties[name] = field
		}
	}
	return &c
}

// formBodyForKin returns rb with its form media types' schemas replaced by
// formSchemaForKin's, or nil when none needs it.
func formBodyForKin(rb *openapi3.RequestBody) *openapi3.RequestBody {
	var content openapi3.Content
	for ct, media := range rb.Content {
		mt := mediaType(ct)
		if media == nil || media.Schema == nil || mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
			continue
		}
		s := formSchemaForKin(media.Schema.Value)
		if s == media.Schema.Value {
			continue
		}
		if content == nil {
			content = make(openapi3.Content, len(rb.Content))
			for k, v := range rb.Content {
				content[k] = v
			}
		}
		m := *media
		m.Schema = &openapi3.SchemaRef{Value: s}
		content[ct] = &m
	}
	if content == nil {
		return nil
	}
	c := *rb
	c.Content = content
	return &c
}

// compiledForm decodes the common urlencoded form bodies (properties of a
// primitive type or arrays of one, no encoding object) as kin-openapi's
// decoder does, for the compiledSchema check: a form it calls valid skips
// kin-openapi's decoder and visitor; anything else goes to them.
type compiledForm struct {
	schema *compiledSchema
	props  map[string]formProp
	direct bool   // accepts may judge a body: at most 64 properties, each compiled, every required one among them
	needs  uint64 // the bits (formProp.index) of the required properties
}

// formProp is how one property of a compiled form is decoded.
type formProp struct {
	typ    string          // the primitive type of the value, or of the items
	array  bool            // repeated fields make an array
	index  int             // its bit in accepts' set of fields seen
	schema *compiledSchema // the property's compiled schema (nil: none)
}

// compileForm returns the compiled decoder of an urlencoded media type, or
// nil when its schema is not one it decodes.
func (oc *opCompiler) compileForm(media *openapi3.MediaType) *compiledForm {
	if oc.schemas == nil || media.Schema == nil || media.Schema.Value == nil || len(media.Encoding) > 0 {
		return nil
	}
	s := media.Schema.Value
	if len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Type != nil && !s.Type.Is(openapi3.TypeObject) {
		return nil
	}
	cf := &compiledForm{props: make(map[string]formProp, len(s.Properties))}
	for name, ref := range s.Properties {
		if ref == nil {
			return nil
		}
		p, ok := formPropOf(ref)
		if !ok {
			return nil
		}
		cf.props[name] = p
	}
	if cf.schema = oc.schemas.compile(s); cf.schema == nil {
		return nil
	}
	cf.direct = len(cf.props) <= 64
	i := 0
	for name, p := range cf.props {
		p.index, p.schema = i, cf.schema.props[name]
		cf.direct = cf.direct && p.schema != nil
		cf.props[name] = p
		i++
	}
	for _, r := range cf.schema.required {
		p, ok := cf.props[r]
		cf.direct = cf.direct && ok
		cf.needs |= 1 << p.index
	}
	return cf
}

// accepts reports whether body, an urlencoded form, is valid by the
// compiled schema, judged in place without decoding it into url.Values
// (checkForm's full path costs a map, a slice per field and a map of
// values). Only the common shape is judged: every field declared, given
// once, of a primitive type, written without malformed escapes. false
// means unsure, and checkForm decodes the body in full.
func (cf *compiledForm) accepts(body string) bool {
	f := cf.schema
	if !cf.direct || f.broken || f.enum != nil || !f.permits(openapi3.TypeObject) ||
		f.allOf != nil || f.anyOf != nil || f.oneOf != nil {
		return false
	}
	if strings.Count(body, "&") >= min(maxFormFields, parseQueryLimit()) || !ascii.WellFormedQuery(body) {
		return false // url.ParseQuery limits the number of fields, and refuses ';' and bad escapes
	}
	var seen uint64
	n := uint64(0)
	for body != "" {
		var field string
		field, body, _ = strings.Cut(body, "&")
		if field == "" {
			continue
		}
		key, raw, _ := strings.Cut(field, "=")
		p, ok := cf.props[key]
		if !ok || p.array || seen&(1<<p.index) != 0 {
			return false // undeclared, repeated: the full path
		}
		if escaped(key) {
			return false
		}
		raw = unescapeQuery(raw)
		seen |= 1 << p.index
		n++
		ps := p.schema
		if ps.broken || ps.readOnly || ps.checkRaw(p.typ, raw) != valid {
			return false
		}
	}
	if n < f.minProps || f.maxProps != nil && n > *f.maxProps {
		return false
	}
	return seen&cf.needs == cf.needs
}

// maxFormFields is the most fields (empty ones included) accepts reads.
const maxFormFields = 128

// formPropOf returns how a property of schema s is decoded: a single
// primitive type, or an array of one.
func formPropOf(ref *openapi3.SchemaRef) (formProp, bool) {
	if t, ok := primitiveType(ref); ok {
		return formProp{typ: t}, true
	}
	if s := ref.Value; s != nil && s.Type != nil && s.Type.Is(openapi3.TypeArray) {
		if t, ok := primitiveType(s.Items); ok {
			return formProp{typ: t, array: true}, true
		}
	}
	return formProp{}, false
}

// valid reports whether form, decoded as kin-openapi decodes it, is valid
// by the compiled schema; false means unsure. Undeclared fields are left
// out, as kin-openapi leaves them out (formextra.go judges them).
func (cf *compiledForm) valid(form url.Values) bool {
	obj := make(map[string]any, len(cf.props))
	for name, p := range cf.props {
		vals := form[name]
		switch {
		case len(vals) == 0:
			continue
		case !p.array && len(vals) > 1:
			return false
		case !p.array:
			v, ok := scalarOf(p.typ, vals[0])
			if !ok {
				return false
			}
			obj[name] = v
			continue
		}
		items := make([]any, len(vals))
		for i, raw := range vals {
			v, ok := scalarOf(p.typ, raw)
			if !ok {
				return false
			}
			items[i] = v
		}
		obj[name] = items
	}
	return cf.schema.check(obj) == valid
}
