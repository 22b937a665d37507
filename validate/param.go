package validate

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// compiledParam decodes the common parameter shapes (primitive values, and
// form/space/pipe-delimited arrays of primitives in the query) for the
// compiledSchema check. Like compiledSchema it only ever answers "valid" for values
// kin-openapi accepts; everything else goes to kin-openapi.
type compiledParam struct {
	deep     map[string]string // deepObject: property name -> its single type
	in       string
	name     string
	header   string // in the header: the canonical form of name
	required bool
	array    bool
	explode  bool
	sep      string
	typ      string // the single type of the value or of the array items
	schema   *compiledSchema
}

// compileParam returns nil for parameters compiled schemas do not handle.
func (fc *schemaCompiler) compileParam(p *openapi3.Parameter) *compiledParam {
	fp := paramShape(p)
	if fp == nil {
		return nil
	}
	if fp.schema = fc.compile(p.Schema.Value); fp.schema == nil {
		return nil
	}
	return fp
}

// paramShape returns a compiledParam without a schema, which decodes p's
// values, or nil when p's shape is not one it decodes.
func paramShape(p *openapi3.Parameter) *compiledParam {
	if p.Schema == nil || p.Schema.Value == nil || p.Content != nil || p.AllowEmptyValue {
		return nil
	}
	sm, err := p.SerializationMethod()
	if err != nil {
		return nil
	}
	s := p.Schema.Value
	fp := &compiledParam{in: p.In, name: p.Name, header: http.CanonicalHeaderKey(p.Name), required: p.Required, explode: sm.Explode}
	if s.Type == nil || !s.Type.IsSingle() {
		return nil
	}
	typ := s.Type.Slice()[0]
	if typ == openapi3.TypeObject {
		// deepObject with primitive properties: filter[country]=NL&filter[min]=3
		if p.In != openapi3.ParameterInQuery || sm.Style != openapi3.SerializationDeepObject || len(s.Properties) == 0 {
			return nil
		}
		fp.deep = make(map[string]string, len(s.Properties))
		for name, ref := range s.Properties {
			t, ok := primitiveType(ref)
			if !ok {
				return nil
			}
			fp.deep[name] = t
		}
		return fp
	}
	if typ == openapi3.TypeArray {
		if s.Items == nil || s.Items.Value == nil || s.Items.Value.Type == nil || !s.Items.Value.Type.IsSingle() {
			return nil
		}
		fp.array = true
		typ = s.Items.Value.Type.Slice()[0]
		switch {
		case p.In == openapi3.ParameterInQuery && sm.Style == openapi3.SerializationForm && sm.Explode:
		case p.In == openapi3.ParameterInQuery && sm.Style == openapi3.SerializationForm:
			fp.sep = ","
		case p.In == openapi3.ParameterInQuery && sm.Style == openapi3.SerializationSpaceDelimited && !sm.Explode:
			fp.sep = " "
		case p.In == openapi3.ParameterInQuery && sm.Style == openapi3.SerializationPipeDelimited && !sm.Explode:
			fp.sep = "|"
		case (p.In == openapi3.ParameterInHeader || p.In == openapi3.ParameterInPath) && sm.Style == openapi3.SerializationSimple:
			fp.sep = "," // exploded or not, a simple array is comma-separated
		case p.In == openapi3.ParameterInCookie && sm.Style == openapi3.SerializationForm:
			fp.sep = "," // read unexploded, as cookieForKin has kin-openapi read it
		default:
			return nil
		}
	} else {
		switch {
		case p.In == openapi3.ParameterInPath && sm.Style == openapi3.SerializationSimple:
		case p.In == openapi3.ParameterInHeader && sm.Style == openapi3.SerializationSimple:
		case p.In == openapi3.ParameterInQuery && sm.Style == openapi3.SerializationForm:
		case p.In == openapi3.ParameterInCookie && sm.Style == openapi3.SerializationForm:
		default:
			return nil
		}
	}
	switch typ {
	case openapi3.TypeString, openapi3.TypeInteger, openapi3.TypeNumber, openapi3.TypeBoolean:
	default:
		return nil
	}
	fp.typ = typ
	return fp
}

// primitiveType returns the one type of the schema r refers to when it
// is string, integer, number or boolean.
func primitiveType(r *openapi3.SchemaRef) (string, bool) {
	if r == nil || r.Value == nil || r.Value.Type == nil || !r.Value.Type.IsSingle() {
		return "", false
	}
	switch t := r.Value.Type.Slice()[0]; t {
	case openapi3.TypeString, openapi3.TypeInteger, openapi3.TypeNumber, openapi3.TypeBoolean:
		return t, true
	}
	return "", false
}

// scalar converts one raw value to the JSON value kin-openapi would decode,
// or reports false when it is not plainly of the parameter's type.
func (fp *compiledParam) scalar(raw string) (any, bool) { return scalarOf(fp.typ, raw) }

func scalarOf(typ, raw string) (any, bool) {
	if raw == "" || !utf8.ValidString(raw) {
		return nil, false
	}
	switch typ {
	case openapi3.TypeString:
		return raw, true
	case openapi3.TypeBoolean:
		switch raw {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		return nil, false
	default:
		if !plainNumber(typ, raw) {
			return nil, false
		}
		return json.Number(raw), true
	}
}

// plainNumber reports whether raw is a JSON number of type typ (integer or
// number) that kin-openapi's decoder also takes: an integer within int32
// (kin-openapi parses one with 32 bits when its format is int32, with 64
// otherwise, and refuses what overflows: a larger integer is left to it),
// a number within float64's range.
func plainNumber(typ, raw string) bool {
	if !isJSONNumber(raw) {
		return false
	}
	if typ == openapi3.TypeInteger {
		_, err := strconv.ParseInt(raw, 10, 32)
		return err == nil
	}
	_, err := strconv.ParseFloat(raw, 64)
	return err == nil
}

// check reports valid when the parameter is absent and optional, or present
// and valid.
func (fp *compiledParam) check(r *http.Request, pathParams pathValues, q *query) verdict {
	if fp.deep != nil {
		return fp.checkDeep(q.all())
	}
	if !fp.array {
		// One scalar, the common case: checked without boxing it.
		switch raw, n := fp.single(r, pathParams, q); {
		case n < 0 || n > 1:
			return unsure
		case n == 0 && fp.required:
			return unsure
		case n == 0:
			return valid
		default:
			return fp.schema.checkRaw(fp.typ, raw)
		}
	}
	v, present, ok := fp.decode(r, pathParams, q)
	switch {
	case !ok:
		return unsure
	case !present:
		if fp.required {
			return unsure
		}
		return valid
	}
	return fp.schema.check(v)
}

// single returns the raw value of a parameter that is not an array and
// how many it has (0 absent, more than 1 repeated); -1 when it cannot be
// read here (a path parameter the match did not bind).
func (fp *compiledParam) single(r *http.Request, pathParams pathValues, q *query) (string, int) {
	var raws []string
	switch fp.in {
	case openapi3.ParameterInPath:
		v, ok := pathParams.get(fp.name)
		if !ok {
			return "", -1
		}
		return v, 1
	case openapi3.ParameterInQuery:
		return q.first(fp.name)
	case openapi3.ParameterInHeader:
		raws = r.Header[fp.header]
	case openapi3.ParameterInCookie:
		c, err := r.Cookie(fp.name)
		if err != nil {
			return "", 0
		}
		return c.Value, 1
	}
	if len(raws) == 0 {
		return "", 0
	}
	return raws[0], len(raws)
}

// decode returns the JSON value of the parameter in r, as kin-openapi
// decodes it; present is false when the parameter is absent. ok is false
// when a value is not plainly of the parameter's shape and type (or fp is
// a deepObject): kin-openapi must decode it.
func (fp *compiledParam) decode(r *http.Request, pathParams pathValues, q *query) (v any, present, ok bool) {
	if fp.deep != nil {
		return nil, false, false
	}
	var raws []string
	switch fp.in {
	case openapi3.ParameterInPath:
		v, ok := pathParams.get(fp.name)
		if !ok {
			return nil, false, false
		}
		raws = []string{v}
	case openapi3.ParameterInQuery:
		raws = q.values(fp.name)
	case openapi3.ParameterInHeader:
		raws = r.Header[fp.header]
	case openapi3.ParameterInCookie:
		if c, err := r.Cookie(fp.name); err == nil {
			raws = []string{c.Value}
		}
	}
	if len(raws) == 0 {
		return nil, false, true
	}
	if !fp.array {
		if len(raws) != 1 {
			return nil, true, false
		}
		v, ok := fp.scalar(raws[0])
		return v, true, ok
	}
	if fp.sep != "" {
		if len(raws) != 1 {
			return nil, true, false
		}
		raws = strings.Split(raws[0], fp.sep)
	}
	items := make([]any, len(raws))
	for i, raw := range raws {
		v, ok := fp.scalar(raw)
		if !ok {
			return nil, true, false
		}
		items[i] = v
	}
	return items, true, true
}

// isJSONNumber reports whether s is a number by the JSON grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// checkDeep decodes a deepObject parameter whose keys are all name[prop]
// with one value and a known primitive property.
func (fp *compiledParam) checkDeep(q url.Values) verdict {
	if _, plain := q[fp.name]; plain {
		return unsure
	}
	var obj map[string]any
	for k, vals := range q {
		rest, ok := strings.CutPrefix(k, fp.name)
		if !ok || rest == "" || rest[0] != '[' {
			continue
		}
		prop, ok := strings.CutSuffix(rest[1:], "]")
		if !ok || strings.ContainsAny(prop, "[]") || len(vals) != 1 {
			return unsure
		}
		typ, ok := fp.deep[prop]
		if !ok {
			return unsure
		}
		v, ok := scalarOf(typ, vals[0])
		if !ok {
			return unsure
		}
		if obj == nil {
			obj = make(map[string]any, len(fp.deep))
		}
		obj[prop] = v
	}
	if obj == nil {
		if fp.required {
			return unsure
		}
		return valid
	}
	return fp.schema.check(obj)
}

// checkRaw is check(scalarOf(typ, raw)) for a parameter's raw value,
// without boxing the value in an interface.
func (f *compiledSchema) checkRaw(typ, raw string) verdict {
	if f.allOf != nil || f.anyOf != nil || f.oneOf != nil {
		v, ok := scalarOf(typ, raw)
		if !ok {
			return unsure
		}
		return f.check(v)
	}
	if raw == "" || !utf8.ValidString(raw) {
		return unsure
	}
	switch typ {
	case openapi3.TypeString:
		return f.checkString(raw)
	case openapi3.TypeBoolean:
		if raw != "true" && raw != "false" || f.enum != nil && !slices.Contains(f.enumBools, raw == "true") || !f.permits(openapi3.TypeBoolean) {
			return unsure
		}
		return valid
	default:
		if !plainNumber(typ, raw) {
			return unsure
		}
		return f.checkNumber(raw)
	}
}
