package validate

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/getkin/kin-openapi/openapi3"
)

// JSON nested in parameters and multipart parts. kin-openapi decodes a
// parameter declared with "content: application/json" and a multipart part
// whose Content-Type is JSON with encoding/json, which takes the last of
// duplicate keys and has no depth or size bounds. Such values are passed
// through the hardening parser first; kin-openapi then validates them.
// Form fields (application/x-www-form-urlencoded) are not JSON-decoded by
// kin-openapi and are not checked here. In both form encodings, a field
// given twice for a property that is not an array is refused, as repeated
// parameters are (see mayRepeat).

// jsonContent reports whether a parameter is declared with a JSON media type.
func jsonContent(p *openapi3.Parameter) bool {
	for ct := range p.Content {
		if isJSON(mediaType(ct)) {
			return true
		}
	}
	return false
}

// paramRaw returns the raw values of p in r.
func paramRaw(r *http.Request, p *openapi3.Parameter, pathParams pathValues, q *query) []string {
	switch p.In {
	case openapi3.ParameterInPath:
		if v, ok := pathParams.get(p.Name); ok {
			return []string{v}
		}
	case openapi3.ParameterInQuery:
		return q.values(p.Name)
	case openapi3.ParameterInHeader:
		return r.Header.Values(p.Name)
	case openapi3.ParameterInCookie:
		if c, err := r.Cookie(p.Name); err == nil {
			return []string{c.Value}
		}
	}
	return nil
}

// checkJSONParam runs the hardening parser over a JSON content parameter;
// false when it failed (and was reported to c).
func (v *Validator) checkJSONParam(r *http.Request, p *openapi3.Parameter, pathParams pathValues, q *query, c *collector) bool {
	for _, raw := range paramRaw(r, p, pathParams, q) {
		if _, err := parseJSON([]byte(raw), v.cfg.JSON); err != nil {
			je := err.(*jsonError)
			c.add(FieldError{In: p.In, Name: p.Name, Pointer: je.pointer(), Reason: je.reason})
			return false
		}
	}
	return true
}

// checkMultipart runs the hardening parser over the parts of a multipart
// body whose Content-Type is JSON, and refuses a part name given more than
// once for a property that is not an array (kin-openapi validates the first
// such part only). It returns false when it reported a failure to c. A body
// that does not parse as multipart is left to kin-openapi.
func (v *Validator) checkMultipart(ct string, body []byte, schema *openapi3.Schema, c *collector) bool {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || params["boundary"] == "" {
		return true
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return true // io.EOF, or malformed: kin-openapi reports it
		}
		name := part.FormName()
		if ps, declared := propertySchema(schema, name); declared && !isArraySchema(ps) {
			if seen[name] {
				c.add(FieldError{In: "body", Pointer: pointerOf([]string{name}), Reason: reasonRepeated})
				return false
			}
			seen[name] = true
		}
		if !isJSON(mediaType(part.Header.Get("Content-Type"))) {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return true
		}
		if _, err := parseJSON(data, v.cfg.JSON); err != nil {
			je := err.(*jsonError)
			c.add(FieldError{In: "body", Reason: "multipart part: " + je.reason})
			return false
		}
	}
}

// checkForm refuses an application/x-www-form-urlencoded field given more
// than once for a property that is not an array, judges the fields the
// properties do not declare by fe (checkFormExtras), then asks cf (nil:
// none) whether the declared ones are valid. passed is false when it
// reported a failure to c; accepted is true when cf settled that the body
// is valid. A body that does not parse is left to kin-openapi.
func (v *Validator) checkForm(body []byte, schema *openapi3.Schema, fe *formExtra, cf *compiledForm, c *collector) (passed, accepted bool) {
	if cf != nil && cf.accepts(string(body)) {
		return true, true
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return true, false
	}
	if !v.checkFormExtras(form, schema, fe, c) {
		return false, false
	}
	for name, vals := range form {
		if len(vals) < 2 {
			continue
		}
		if ps, declared := propertySchema(schema, name); declared && !isArraySchema(ps) {
			c.add(FieldError{In: "body", Pointer: pointerOf([]string{name}), Reason: reasonRepeated})
			return false, false
		}
	}
	return true, cf != nil && cf.valid(form)
}

// propertySchema returns the schema of a declared property of s (or of
// one of its allOf, anyOf or oneOf members), as kin-openapi's form
// decoders find it.
func propertySchema(s *openapi3.Schema, name string) (*openapi3.Schema, bool) {
	if s == nil {
		return nil, false
	}
	if r := s.Properties[name]; r != nil {
		return r.Value, true
	}
	for _, refs := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range refs {
			if sub != nil && sub.Value != nil {
				if r := sub.Value.Properties[name]; r != nil {
					return r.Value, true
				}
			}
		}
	}
	if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
		if r := ap.Value.Properties[name]; r != nil {
			return r.Value, true
		}
	}
	return nil, false
}
