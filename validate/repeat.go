package validate

import (
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Repeated parameters. kin-openapi reads the first value of a parameter
// that appears more than once (a second ?limit=, a second X-Warehouse line,
// a second cookie of the same name), while many backends take the last: the
// value the backend uses would go unchecked. A parameter that is not a list
// by its serialisation is therefore refused when it appears more than once.

// reasonRepeated is the FieldError reason for a repeated parameter.
const reasonRepeated = "must not appear more than once"

// mayRepeat reports whether p may legitimately appear more than once: a
// query array in form style with explode (?tags=a&tags=b), or an array
// header (kin-openapi joins the lines with commas, as RFC 9110 5.3 allows).
func mayRepeat(p *openapi3.Parameter) bool {
	if p.Content != nil || p.Schema == nil || !isArraySchema(p.Schema.Value) {
		return false
	}
	switch p.In {
	case openapi3.ParameterInQuery:
		sm, err := p.SerializationMethod()
		return err == nil && sm.Style == openapi3.SerializationForm && sm.Explode
	case openapi3.ParameterInHeader:
		return true
	}
	return false
}

// isArraySchema reports whether s may describe an array.
func isArraySchema(s *openapi3.Schema) bool {
	if s == nil {
		return false
	}
	if s.Type == nil || s.Type.IsEmpty() {
		return s.Items != nil
	}
	return s.Type.Includes(openapi3.TypeArray)
}

// repeated reports whether the parameter appears more than once in r (q is
// the query, nil when the operation has no query parameters).
func repeated(r *http.Request, p *opParam, q *query) bool {
	switch p.In {
	case openapi3.ParameterInQuery:
		_, n := q.first(p.Name)
		return n > 1
	case openapi3.ParameterInHeader:
		return len(r.Header[p.header]) > 1
	case openapi3.ParameterInCookie:
		return cookieCount(r, p.Name) > 1
	}
	return false
}

// cookieCount counts the cookies named name over all Cookie header lines,
// without allocating.
func cookieCount(r *http.Request, name string) int {
	n := 0
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(k) == name {
				n++
			}
		}
	}
	return n
}

// deepLeafMayRepeat reports whether the deepObject key name[a][b]... (rest
// is "a][b]...") names a property whose schema is an array, the only kind
// of leaf that may be given more than once.
func deepLeafMayRepeat(s *openapi3.Schema, rest string) bool {
	for _, part := range strings.Split(rest, "[") {
		part = strings.TrimSuffix(part, "]")
		if s == nil {
			return false
		}
		if part != "" && part[0] >= '0' && part[0] <= '9' && isArraySchema(s) {
			s = itemsOf(s)
			continue
		}
		ref := s.Properties[part]
		if ref == nil {
			if s.AdditionalProperties.Schema == nil {
				return false
			}
			ref = s.AdditionalProperties.Schema
		}
		s = ref.Value
	}
	return isArraySchema(s)
}

func itemsOf(s *openapi3.Schema) *openapi3.Schema {
	if s.Items == nil {
		return nil
	}
	return s.Items.Value
}

// deepPropertyAllowed reports whether the first property of a deepObject
// key (rest is "prop]..." ) is declared, or the schema admits undeclared
// properties.
func deepPropertyAllowed(s *openapi3.Schema, rest string) bool {
	if s == nil {
		return true
	}
	prop, _, _ := strings.Cut(rest, "]")
	if _, ok := s.Properties[prop]; ok {
		return true
	}
	ap := s.AdditionalProperties
	return !(ap.Has != nil && !*ap.Has)
}

// schemaDepth is how deeply a deepObject key may nest brackets below the
// parameter name for schema s (filter[a][b] is 2), capped at limit.
func schemaDepth(s *openapi3.Schema, limit int) int {
	if s == nil || limit <= 0 {
		return 0
	}
	if ap := s.AdditionalProperties; ap.Has == nil && ap.Schema == nil && isObjectish(s) || ap.Has != nil && *ap.Has {
		return limit // undeclared properties of any shape
	}
	d := 0
	deeper := func(r *openapi3.SchemaRef) {
		if r != nil {
			d = max(d, 1+schemaDepth(r.Value, limit-1))
		}
	}
	for _, r := range s.Properties {
		deeper(r)
	}
	deeper(s.Items)
	deeper(s.AdditionalProperties.Schema)
	for _, rs := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range rs {
			if r != nil {
				d = max(d, schemaDepth(r.Value, limit))
			}
		}
	}
	return min(d, limit)
}

// isObjectish reports whether s may describe an object.
func isObjectish(s *openapi3.Schema) bool {
	return s.Type == nil || s.Type.IsEmpty() || s.Type.Includes(openapi3.TypeObject)
}
