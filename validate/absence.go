package validate

import (
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
)

// absence says how to see that an optional parameter kin-openapi decodes
// (one compiledParam does not) is absent, in which case kin-openapi finds
// nothing and, with defaults never set, accepts the request: a query
// parameter when the query has no pairs at all (kin-openapi looks at no
// parameter then), an object in a header of style simple when no line of
// that header is sent, an object in a cookie of style form, read
// unexploded, when no cookie has its name. Anything present is still
// decoded and judged by kin-openapi.
type absence uint8

const (
	absenceUnknown absence = iota // kin-openapi decides
	absenceQuery
	absenceHeader
	absenceCookie
)

// absenceOf returns how to see that p, as kin-openapi is given it, is
// absent. An object schema with allOf, anyOf, oneOf or not, or of more
// than the one type, is decoded by other rules and left to kin-openapi.
func absenceOf(p *openapi3.Parameter) absence {
	if p.Required || p.Content != nil || p.Schema == nil || p.Schema.Value == nil {
		return absenceUnknown
	}
	sm, err := p.SerializationMethod() // kin-openapi refuses a parameter whose style it does not know, absent or not
	if err != nil {
		return absenceUnknown
	}
	if p.In == openapi3.ParameterInQuery {
		return absenceQuery
	}
	s := p.Schema.Value
	if !s.Type.Is(openapi3.TypeObject) || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil {
		return absenceUnknown
	}
	switch {
	case p.In == openapi3.ParameterInHeader && sm.Style == openapi3.SerializationSimple:
		return absenceHeader
	case p.In == openapi3.ParameterInCookie && sm.Style == openapi3.SerializationForm && !sm.Explode:
		return absenceCookie
	}
	return absenceUnknown
}

// absent reports whether r does not carry the parameter named name
// (header: its canonical form) as a says to look for it.
func (a absence) absent(r *http.Request, name, header string) bool {
	switch a {
	case absenceQuery:
		return r.URL.RawQuery == ""
	case absenceHeader:
		_, sent := r.Header[header]
		return !sent
	case absenceCookie:
		return cookieCount(r, name) == 0
	}
	return false
}
