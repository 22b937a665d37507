package validate

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// A compiledSchema is an OpenAPI 3.0 or 3.1 schema compiled once at load time
// for the common keywords. It only answers "valid" when kin-openapi would too;
// anything it cannot decide (a keyword it does not know, a value it would
// have to interpret, any failure) is answered "unsure", and the caller then
// asks kin-openapi, whose verdict and error list are authoritative. Valid
// requests, the common case, thus skip kin-openapi's reflective visitor;
// invalid ones get kin-openapi's exact errors.
type compiledSchema struct {
	types      []string // nil: any type
	nullable   bool
	readOnly   bool                // as a property, must not be sent in a request body: checkObject is unsure when it is
	broken     bool                // a recursive schema whose compilation failed: always unsure
	multipleOf int64               // 0: none; an integral multipleOf (others are not compiled)
	enum       map[string]struct{} // the string members of enum; non-nil whenever there is an enum
	enumNums   []float64           // its number members
	enumBools  []bool              // its boolean members
	format     openapi3.StringFormatValidator
	intFormat  string
	pattern    matcher
	minLen     uint64
	maxLen     *uint64
	min, max   *float64
	exclMin    bool
	exclMax    bool
	required   []string
	props      map[string]*compiledSchema
	addl       int // 0 any, 1 forbidden, 2 schema
	addlS      *compiledSchema
	minProps   uint64
	maxProps   *uint64
	items      *compiledSchema
	minItems   uint64
	maxItems   *uint64
	unique     bool
	allOf      []*compiledSchema
	anyOf      []*compiledSchema
	oneOf      []*compiledSchema
	oneOfRefs  []string
	discProp   string
	discMap    map[string]string
}

type verdict int8

const (
	valid verdict = iota
	unsure
)

// schemaCompiler compiles schemas, sharing the result for shared (and
// recursive) schemas.
type schemaCompiler struct {
	intern  *interned // filled with property names and enum values
	is31    bool      // OpenAPI 3.1: null comes from type arrays, "nullable" is ignored
	formats map[string]openapi3.StringFormatValidator
	done    map[*openapi3.Schema]*compiledSchema
	busy    map[*openapi3.Schema]bool
}

// compile returns nil when s uses anything compiled schemas do not handle.
// A schema met again while it is being compiled (a recursive schema) is
// shared when the way back to it goes through a property, array items or
// additional properties, which check a smaller value each time, so that
// checking ends; through allOf, anyOf or oneOf, which check the same value
// again, it is not compiled (compileSame). A shared schema whose
// compilation then fails is marked broken: whatever reached it answers
// unsure.
func (fc *schemaCompiler) compile(s *openapi3.Schema) *compiledSchema {
	if s == nil {
		return nil
	}
	if f, ok := fc.done[s]; ok {
		return f
	}
	f := &compiledSchema{}
	fc.done[s] = f
	fc.busy[s] = true
	built := fc.build(s)
	delete(fc.busy, s)
	if built == nil {
		f.broken = true
		fc.done[s] = nil
		return nil
	}
	*f = *built
	return f
}

// compileSame is compile for a schema applied to the same value (allOf,
// anyOf, oneOf): nil when s is being compiled.
func (fc *schemaCompiler) compileSame(s *openapi3.Schema) *compiledSchema {
	if fc.busy[s] {
		return nil
	}
	return fc.compile(s)
}

func (fc *schemaCompiler) build(s *openapi3.Schema) *compiledSchema {
	if fc.intern != nil {
		for name := range s.Properties {
			fc.intern.addKey(name)
		}
		for _, e := range s.Enum {
			if str, ok := e.(string); ok {
				fc.intern.addVal(str)
			}
		}
	}
	// Everything not consumed below must be absent: clear what we handle
	// and ask kin-openapi whether any constraint is left.
	rest := *s
	rest.Type, rest.Nullable, rest.Enum, rest.Format, rest.Pattern = nil, false, nil, "", ""
	rest.MinLength, rest.MaxLength, rest.Min, rest.Max = 0, nil, nil, nil
	rest.ExclusiveMin, rest.ExclusiveMax = openapi3.ExclusiveBound{}, openapi3.ExclusiveBound{}
	rest.Required, rest.Properties, rest.AdditionalProperties = nil, nil, openapi3.AdditionalProperties{}
	rest.MinProps, rest.MaxProps, rest.Items, rest.MinItems, rest.MaxItems, rest.UniqueItems = 0, nil, nil, 0, nil, false
	rest.AllOf, rest.AnyOf, rest.OneOf, rest.Discriminator = nil, nil, nil, nil
	rest.Default, rest.Example, rest.Examples = nil, nil, nil
	// readOnly and writeOnly do not constrain the value itself: readOnly
	// constrains the object it is a property of (checkObject), writeOnly
	// only responses.
	rest.ReadOnly, rest.WriteOnly, rest.MultipleOf = false, false, nil
	if !rest.IsEmpty() || s.Always != nil || recursiveKeyword(s) {
		return nil
	}
	if s.ExclusiveMin.Value != nil || s.ExclusiveMax.Value != nil {
		return nil
	}
	var multipleOf int64
	if m := s.MultipleOf; m != nil {
		// Only integral divisors are checked here, exactly, on integral
		// values; kin-openapi judges the rest with its tolerance.
		if *m <= 0 || *m != math.Trunc(*m) || *m >= 1<<53 {
			return nil
		}
		multipleOf = int64(*m)
	}
	f := &compiledSchema{nullable: s.Nullable, readOnly: s.ReadOnly, multipleOf: multipleOf, minLen: s.MinLength, maxLen: s.MaxLength, min: s.Min, max: s.Max,
		exclMin: s.ExclusiveMin.IsTrue(), exclMax: s.ExclusiveMax.IsTrue(), required: s.Required,
		minProps: s.MinProps, maxProps: s.MaxProps, minItems: s.MinItems, maxItems: s.MaxItems, unique: s.UniqueItems}
	if s.Type != nil {
		f.types = s.Type.Slice()
	}
	if fc.is31 {
		f.nullable = s.Type != nil && s.Type.IncludesNull()
	}
	if len(s.Enum) > 0 {
		f.enum = make(map[string]struct{}, len(s.Enum))
		for _, e := range s.Enum {
			switch e := e.(type) {
			case string:
				f.enum[e] = struct{}{}
			case float64:
				f.enumNums = append(f.enumNums, e)
			case int:
				f.enumNums = append(f.enumNums, float64(e))
			case int64:
				f.enumNums = append(f.enumNums, float64(e))
			case uint64:
				f.enumNums = append(f.enumNums, float64(e))
			case bool:
				f.enumBools = append(f.enumBools, e)
			default:
				return nil // null, objects, arrays: kin-openapi compares them
			}
		}
	}
	if s.Format != "" {
		isInt := s.Type != nil && s.Type.Is(openapi3.TypeInteger)
		isNum := s.Type != nil && s.Type.Is(openapi3.TypeNumber)
		isStr := s.Type != nil && s.Type.Is(openapi3.TypeString)
		switch {
		case isInt && (s.Format == "int32" || s.Format == "int64"):
			f.intFormat = s.Format
		case isNum && (s.Format == "float" || s.Format == "double") && len(openapi3.SchemaNumberFormats) == 0:
		case isStr:
			v := fc.formats[s.Format]
			if v == nil {
				v = openapi3.SchemaStringFormats[s.Format]
			}
			f.format = v // nil: a format kin-openapi does not know, which it ignores
		default:
			return nil
		}
	}
	if s.Pattern != "" {
		re, err := compilePattern(s.Pattern)
		if err != nil {
			return nil
		}
		f.pattern = re
	}
	if len(s.Properties) > 0 {
		f.props = make(map[string]*compiledSchema, len(s.Properties))
		for name, ref := range s.Properties {
			if ref == nil || ref.Value == nil {
				return nil
			}
			if f.props[name] = fc.compile(ref.Value); f.props[name] == nil {
				return nil
			}
		}
	}
	ap := s.AdditionalProperties
	switch {
	case ap.Has != nil && !*ap.Has:
		f.addl = 1
	case ap.Schema != nil:
		if ap.Schema.Value == nil {
			return nil
		}
		if f.addlS = fc.compile(ap.Schema.Value); f.addlS == nil {
			return nil
		}
		f.addl = 2
	}
	if s.Items != nil {
		if s.Items.Value == nil {
			return nil
		}
		if f.items = fc.compile(s.Items.Value); f.items == nil {
			return nil
		}
	}
	var ok bool
	if f.allOf, ok = fc.list(s.AllOf); !ok {
		return nil
	}
	if f.anyOf, ok = fc.list(s.AnyOf); !ok {
		return nil
	}
	if f.oneOf, ok = fc.list(s.OneOf); !ok {
		return nil
	}
	// kin-openapi reads a discriminator only to choose among oneOf or anyOf
	// branches: on a base schema that others extend through allOf (Pet,
	// under Cat and Dog) it has no effect, and is ignored here too.
	if d := s.Discriminator; d != nil && len(s.OneOf)+len(s.AnyOf) > 0 {
		if len(s.OneOf) == 0 || len(s.AnyOf) > 0 || d.PropertyName == "" {
			return nil
		}
		f.discProp = d.PropertyName
		f.discMap = make(map[string]string, len(d.Mapping))
		for k, m := range d.Mapping {
			ref := m.Ref
			if ref == "" {
				return nil // kin-openapi then tries every branch, as a plain oneOf
			}
			if !strings.Contains(ref, "/") {
				ref = "#/components/schemas/" + ref // a bare schema name, as kin-openapi reads it
			}
			f.discMap[k] = ref
		}
		for _, r := range s.OneOf {
			if slices.Contains(f.oneOfRefs, r.Ref) {
				return nil // a value selects every branch of its reference: kin-openapi counts them
			}
			f.oneOfRefs = append(f.oneOfRefs, r.Ref)
		}
	}
	return f
}

func (fc *schemaCompiler) list(refs openapi3.SchemaRefs) ([]*compiledSchema, bool) {
	var out []*compiledSchema
	for _, r := range refs {
		if r == nil || r.Value == nil {
			return nil, false
		}
		f := fc.compileSame(r.Value)
		if f == nil {
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

func (f *compiledSchema) permits(t string) bool {
	if f.types == nil {
		return true
	}
	for _, x := range f.types {
		if x == t {
			return true
		}
	}
	return false
}

// check returns valid only if kin-openapi would accept v.
func (f *compiledSchema) check(v any) verdict {
	if f.broken {
		return unsure
	}
	if v == nil {
		if f.nullable && f.enum == nil && f.allOf == nil && f.anyOf == nil && f.oneOf == nil {
			return valid
		}
		return unsure
	}
	for _, s := range f.allOf {
		if s.check(v) != valid {
			return unsure
		}
	}
	if f.anyOf != nil {
		found := false
		for _, s := range f.anyOf {
			if s.check(v) == valid {
				found = true
				break
			}
		}
		if !found {
			return unsure
		}
	}
	if f.oneOf != nil && f.checkOneOf(v) != valid {
		return unsure
	}
	switch x := v.(type) {
	case string:
		return f.checkString(x)
	case json.Number:
		return f.checkNumber(string(x))
	case bool:
		if f.enum != nil && !slices.Contains(f.enumBools, x) || !f.permits(openapi3.TypeBoolean) {
			return unsure
		}
		return valid
	case map[string]any:
		return f.checkObject(x)
	case []any:
		return f.checkArray(x)
	}
	return unsure
}

func (f *compiledSchema) checkOneOf(v any) verdict {
	if f.discProp != "" {
		return f.checkDiscriminated(v)
	}
	n := 0
	for _, s := range f.oneOf {
		if s.check(v) == valid {
			n++
		}
	}
	if n != 1 {
		return unsure
	}
	return valid
}

// checkDiscriminated checks v against the one branch its discriminator
// value selects, as kin-openapi does once the mapping is complete (see
// completeDiscriminators).
func (f *compiledSchema) checkDiscriminated(v any) verdict {
	obj, ok := v.(map[string]any)
	if !ok {
		return unsure
	}
	name, ok := obj[f.discProp].(string)
	if !ok {
		return unsure
	}
	ref, ok := f.discMap[name]
	if !ok {
		return unsure // outside the mapping: kin-openapi decides
	}
	for i, r := range f.oneOfRefs {
		if r == ref {
			return f.oneOf[i].check(v)
		}
	}
	return unsure
}

func (f *compiledSchema) checkString(s string) verdict {
	if !f.permits(openapi3.TypeString) {
		return unsure
	}
	if f.enum != nil {
		if _, ok := f.enum[s]; !ok {
			return unsure
		}
	}
	if f.minLen != 0 || f.maxLen != nil {
		// kin-openapi counts UTF-16 code units for OpenAPI 3.0 and its JSON
		// Schema 2020-12 validator counts code points: the minimum is checked
		// on the smaller count and the maximum on the larger, so that both agree.
		var points, units uint64
		for _, r := range s {
			points++
			units++
			if r >= 0x10000 {
				units++
			}
		}
		if points < f.minLen || f.maxLen != nil && units > *f.maxLen {
			return unsure
		}
	}
	if f.pattern != nil && !f.pattern.MatchString(s) {
		return unsure
	}
	if f.format != nil && f.format.Validate(s) != nil {
		return unsure
	}
	return valid
}

// checkNumber takes the literal of a JSON number (or a parameter).
func (f *compiledSchema) checkNumber(lit string) verdict {
	isInt := !strings.ContainsAny(lit, ".eE")
	if !f.permits(openapi3.TypeNumber) && !(isInt && f.permits(openapi3.TypeInteger)) {
		return unsure
	}
	x, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return unsure
	}
	if f.enum != nil && !slices.Contains(f.enumNums, x) {
		return unsure // kin-openapi compares enum members as float64, as here
	}
	if f.intFormat != "" {
		i, err := strconv.ParseInt(lit, 10, 64)
		if err != nil || f.intFormat == "int32" && (i < math.MinInt32 || i > math.MaxInt32) {
			return unsure
		}
	}
	if f.min != nil && (x < *f.min || f.exclMin && x == *f.min) {
		return unsure
	}
	if f.max != nil && (x > *f.max || f.exclMax && x == *f.max) {
		return unsure
	}
	if f.multipleOf != 0 && (x != math.Trunc(x) || math.Abs(x) >= 1<<53 || int64(x)%f.multipleOf != 0) {
		return unsure
	}
	return valid
}

func (f *compiledSchema) checkObject(m map[string]any) verdict {
	if f.enum != nil || !f.permits(openapi3.TypeObject) {
		return unsure
	}
	n := uint64(len(m))
	if n < f.minProps || f.maxProps != nil && n > *f.maxProps {
		return unsure
	}
	for _, r := range f.required {
		if _, ok := m[r]; !ok {
			return unsure
		}
	}
	for k, v := range m {
		if s, ok := f.props[k]; ok {
			// A readOnly property sent in a request body is an error;
			// in a parameter it is not: kin-openapi decides which.
			if s.readOnly && v != nil || s.check(v) != valid {
				return unsure
			}
			continue
		}
		switch f.addl {
		case 1:
			return unsure
		case 2:
			if f.addlS.check(v) != valid {
				return unsure
			}
		}
	}
	return valid
}

func (f *compiledSchema) checkArray(a []any) verdict {
	if f.enum != nil || !f.permits(openapi3.TypeArray) {
		return unsure
	}
	n := uint64(len(a))
	if n < f.minItems || f.maxItems != nil && n > *f.maxItems {
		return unsure
	}
	if f.items != nil {
		for _, v := range a {
			if f.items.check(v) != valid {
				return unsure
			}
		}
	}
	if f.unique && len(a) > 1 {
		seen := make(map[string]struct{}, len(a))
		for _, v := range a {
			s, ok := v.(string)
			if !ok {
				return unsure
			}
			if _, dup := seen[s]; dup {
				return unsure
			}
			seen[s] = struct{}{}
		}
	}
	return valid
}
