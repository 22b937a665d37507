package validate

import (
	"encoding/json"
	"math"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Generation of values a schema accepts, for the requests of TestCorpus.

// genValue generates a value s accepts, or reports false when it cannot
// be sure to.
func genValue(s *openapi3.Schema, depth int) (any, bool) {
	if depth > 12 {
		return nil, false
	}
	if s == nil {
		return "x", true
	}
	if s.Not != nil || len(s.AnyOf) > 0 && s.Discriminator == nil || s.If != nil || len(s.PrefixItems) > 0 || s.Contains != nil ||
		len(s.PatternProperties) > 0 || s.PropertyNames != nil || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 {
		return nil, false
	}
	if s.Const != nil {
		return s.Const, true
	}
	if len(s.Enum) > 0 {
		for _, e := range s.Enum {
			if e != nil {
				return e, true
			}
		}
		return nil, false
	}
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 {
		return genBranch(s, depth)
	}
	if len(s.AllOf) > 0 {
		return genAllOf(s, depth)
	}
	typ := ""
	if s.Type != nil {
		for _, t := range s.Type.Slice() {
			if t != openapi3.TypeNull {
				typ = t
				break
			}
		}
	}
	if typ == "" {
		switch {
		case len(s.Properties) > 0 || len(s.Required) > 0:
			typ = openapi3.TypeObject
		case s.Items != nil:
			typ = openapi3.TypeArray
		default:
			return "x", s.Pattern == "" && s.MinLength <= 1 && s.Format == ""
		}
	}
	switch typ {
	case openapi3.TypeString:
		return genString(s)
	case openapi3.TypeInteger, openapi3.TypeNumber:
		return genNumber(s, typ == openapi3.TypeInteger)
	case openapi3.TypeBoolean:
		return true, true
	case openapi3.TypeArray:
		n := max(int(s.MinItems), 1)
		if s.MaxItems != nil && uint64(n) > *s.MaxItems {
			n = int(*s.MaxItems)
		}
		if n > 1 && s.UniqueItems {
			return nil, false
		}
		var item *openapi3.Schema
		if s.Items != nil {
			item = s.Items.Value
		}
		arr := make([]any, n)
		for i := range arr {
			v, ok := genValue(item, depth+1)
			if !ok {
				return nil, false
			}
			arr[i] = v
		}
		return arr, true
	case openapi3.TypeObject:
		return genObject(s, nil, depth)
	}
	return nil, false
}

func genObject(s *openapi3.Schema, into map[string]any, depth int) (any, bool) {
	obj := into
	if obj == nil {
		obj = map[string]any{}
	}
	for _, name := range s.Required {
		ps := s.Properties[name]
		var v any
		var ok bool
		switch {
		case ps != nil && ps.Value != nil && ps.Value.ReadOnly:
			continue
		case ps != nil:
			v, ok = genValue(ps.Value, depth+1)
		case s.AdditionalProperties.Schema != nil:
			v, ok = genValue(s.AdditionalProperties.Schema.Value, depth+1)
		default:
			v, ok = "x", true
		}
		if !ok {
			return nil, false
		}
		obj[name] = v
	}
	if uint64(len(obj)) < s.MinProps {
		return nil, false
	}
	return obj, true
}

// genAllOf generates an object satisfying every member of an allOf of
// object schemas: their properties and required names merged.
func genAllOf(s *openapi3.Schema, depth int) (any, bool) {
	merged := &openapi3.Schema{Properties: openapi3.Schemas{}}
	var merge func(x *openapi3.Schema, d int) bool
	merge = func(x *openapi3.Schema, d int) bool {
		if d > 12 || x.Not != nil || len(x.OneOf)+len(x.AnyOf) > 0 || x.AdditionalProperties.Has != nil && !*x.AdditionalProperties.Has {
			return false
		}
		if x.Type != nil && !x.Type.IsEmpty() && !x.Type.Includes(openapi3.TypeObject) {
			return false
		}
		for _, m := range x.AllOf {
			if m == nil || m.Value == nil || !merge(m.Value, d+1) {
				return false
			}
		}
		for k, v := range x.Properties {
			if _, ok := merged.Properties[k]; !ok {
				merged.Properties[k] = v
			}
		}
		merged.Required = append(merged.Required, x.Required...)
		merged.MinProps = max(merged.MinProps, x.MinProps)
		return true
	}
	if !merge(s, depth) {
		return nil, false
	}
	return genObject(merged, nil, depth)
}

// genBranch generates a value for the first branch of a oneOf or anyOf,
// setting the discriminator to the value that selects it.
func genBranch(s *openapi3.Schema, depth int) (any, bool) {
	branches := s.OneOf
	if len(branches) == 0 {
		branches = s.AnyOf
	}
	if len(s.AllOf) > 0 || len(s.Properties) > 0 || s.Discriminator == nil && len(s.OneOf) > 1 {
		return nil, false
	}
	b := branches[0]
	if b == nil || b.Value == nil {
		return nil, false
	}
	v, ok := genValue(b.Value, depth+1)
	if !ok || s.Discriminator == nil {
		return v, ok
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		return nil, false
	}
	d := s.Discriminator
	key := ""
	for k, m := range d.Mapping {
		ref := m.Ref
		if !strings.Contains(ref, "/") {
			ref = "#/components/schemas/" + ref
		}
		if ref == b.Ref && (key == "" || k < key) {
			key = k
		}
	}
	if key == "" {
		return nil, false
	}
	obj[d.PropertyName] = key
	return obj, true
}

func genString(s *openapi3.Schema) (any, bool) {
	str := "x"
	switch s.Format {
	case "":
	case "date":
		str = "2024-01-02"
	case "date-time":
		str = "2024-01-02T03:04:05Z"
	case "uuid":
		str = "123e4567-e89b-12d3-a456-426614174000"
	case "email":
		str = "a@example.com"
	case "uri", "url":
		str = "https://example.com/x"
	case "ipv4":
		str = "192.0.2.1"
	case "ipv6":
		str = "2001:db8::1"
	case "hostname":
		str = "example.com"
	case "byte":
		str = "aGVsbG8="
	case "binary", "password", "int64", "int32", "decimal":
		if s.Format != "binary" && s.Format != "password" {
			str = "1"
		}
	default:
		return nil, false
	}
	if s.Pattern != "" {
		m, err := compilePattern(s.Pattern)
		if err != nil {
			return nil, false
		}
		cand := []any{s.Example}
		cand = append(cand, s.Examples...)
		found := false
		for _, c := range cand {
			if cs, ok := c.(string); ok && m.MatchString(cs) {
				str, found = cs, true
				break
			}
		}
		if !found {
			gen, ok := patternString(s.Pattern)
			if !ok || !m.MatchString(gen) {
				return nil, false
			}
			str = gen
		}
	}
	for uint64(len(str)) < s.MinLength {
		str += "x"
	}
	if s.MaxLength != nil && uint64(len(str)) > *s.MaxLength {
		return nil, false
	}
	return str, true
}

func genNumber(s *openapi3.Schema, integer bool) (any, bool) {
	x := 1.0
	lo, hi := math.Inf(-1), math.Inf(1)
	if s.Min != nil {
		lo = *s.Min
		if s.ExclusiveMin.IsTrue() {
			lo++
		}
	}
	if s.ExclusiveMin.Value != nil {
		lo = max(lo, *s.ExclusiveMin.Value+1)
	}
	if s.Max != nil {
		hi = *s.Max
		if s.ExclusiveMax.IsTrue() {
			hi--
		}
	}
	if s.ExclusiveMax.Value != nil {
		hi = min(hi, *s.ExclusiveMax.Value-1)
	}
	if x < lo {
		x = math.Ceil(lo)
	}
	if x > hi {
		x = math.Floor(hi)
	}
	if s.MultipleOf != nil && *s.MultipleOf > 0 {
		x = math.Ceil(x / *s.MultipleOf) * *s.MultipleOf
	}
	if x < lo || x > hi || integer && x != math.Trunc(x) {
		return nil, false
	}
	return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), true
}

// patternString generates a short string matching a pattern, from its
// RE2 parse: literals as they are, the first rune of a class, the least
// repetition (one for an optional or starred part), the first alternative.
func patternString(p string) (string, bool) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	var gen func(re *syntax.Regexp) bool
	gen = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpLiteral:
			b.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			if len(re.Rune) == 0 {
				return false
			}
			r := re.Rune[0]
			if r < '0' && re.Rune[1] >= 'a' {
				r = 'a'
			}
			b.WriteRune(r)
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			b.WriteByte('x')
		case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText, syntax.OpEmptyMatch, syntax.OpWordBoundary:
		case syntax.OpCapture:
			return gen(re.Sub[0])
		case syntax.OpStar, syntax.OpQuest:
		case syntax.OpPlus:
			return gen(re.Sub[0])
		case syntax.OpRepeat:
			for range max(re.Min, 0) {
				if !gen(re.Sub[0]) {
					return false
				}
			}
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				if !gen(sub) {
					return false
				}
			}
		case syntax.OpAlternate:
			return gen(re.Sub[0])
		default:
			return false
		}
		return true
	}
	if !gen(re) {
		return "", false
	}
	return b.String(), true
}
