package validate

import (
	"bytes"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

// A JSON body judged as it is parsed. checkBody's full path parses a body
// into maps and slices (parseJSON) and then walks them with the compiled
// schema (compiledSchema.check); for a small valid body, most of that cost
// is building the maps. checkJSON does both at once over the bytes and
// builds nothing. It answers true only where parseJSON accepts the body
// and check calls its value valid; anything else, including what it does
// not judge (keys with escapes or non-ASCII bytes, objects of more than
// maxJudgedKeys members, uniqueItems), is false, "unsure", and checkBody
// then takes the full path, which finds and reports the errors. Combined
// schemas (allOf, anyOf, oneOf) read the bytes of their value again for
// each branch.

// maxJudgedKeys is the most members of one object checkJSON judges: the
// duplicate-key check compares each key with those before it.
const maxJudgedKeys = 32

// checkJSON reports whether b is a JSON document parseJSON accepts within
// lim whose value f calls valid.
func (f *compiledSchema) checkJSON(b []byte, lim JSONLimits) bool {
	p := parser{b: b, lim: lim}
	p.ws()
	if !p.judge(f, 0) {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

// judge parses the value at p.i as parser.value does, without building
// it, and reports whether f calls it valid (f nil: any value is). After
// true, p.i is past the value; after false it is anywhere.
func (p *parser) judge(f *compiledSchema, depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	if f != nil {
		if f.broken {
			return false
		}
		if p.b[p.i] == 'n' {
			// check answers null before looking at combined schemas.
			_, err := p.lit("null", nil)
			return err == nil && f.nullable && f.enum == nil && f.allOf == nil && f.anyOf == nil && f.oneOf == nil
		}
		if f.allOf != nil || f.anyOf != nil || f.oneOf != nil {
			return p.judgeCombined(f, depth)
		}
	}
	return p.judgeValue(f, depth)
}

// judgeCombined judges a value against f's allOf, anyOf and oneOf
// branches, reading it again for each, then against f's own keywords, as
// check does.
func (p *parser) judgeCombined(f *compiledSchema, depth int) bool {
	start := p.i
	for _, s := range f.allOf {
		p.i = start
		if !p.judge(s, depth) {
			return false
		}
	}
	if f.anyOf != nil {
		found := false
		for _, s := range f.anyOf {
			p.i = start
			if p.judge(s, depth) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	switch {
	case f.oneOf == nil:
	case f.discProp != "":
		p.i = start
		branch := p.discriminated(f, depth)
		p.i = start
		if branch == nil || !p.judge(branch, depth) {
			return false
		}
	default:
		n := 0
		for _, s := range f.oneOf {
			p.i = start
			if p.judge(s, depth) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	p.i = start
	return p.judgeValue(f, depth)
}

// discriminated returns the oneOf branch of f that the discriminator
// property of the object at p.i selects, as checkDiscriminated chooses it;
// nil when there is none.
func (p *parser) discriminated(f *compiledSchema, depth int) *compiledSchema {
	name, ok := p.memberString(f.discProp, depth)
	if !ok {
		return nil
	}
	ref, ok := f.discMap[name]
	if !ok {
		return nil
	}
	for i, r := range f.oneOfRefs {
		if r == ref {
			return f.oneOf[i]
		}
	}
	return nil
}

// memberString returns the string value of the member key of the object
// at p.i; false when the value is not an object, has no such member, or
// its value is not a string.
func (p *parser) memberString(key string, depth int) (string, bool) {
	if p.b[p.i] != '{' || depth >= p.lim.MaxDepth {
		return "", false
	}
	p.i++
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return "", false
		}
		raw, dec, esc, err := p.strRaw()
		if err != nil {
			return "", false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return "", false
		}
		p.i++
		p.ws()
		if esc && dec == key || !esc && string(raw) == key {
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return "", false
			}
			v, err := p.str()
			return v, err == nil
		}
		if !p.judge(nil, depth+1) {
			return "", false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ',' {
			return "", false
		}
		p.i++
	}
}

// judgeValue judges the value at p.i by f's own keywords (f nil: any
// value), leaving combined schemas to judgeCombined.
func (p *parser) judgeValue(f *compiledSchema, depth int) bool {
	switch c := p.b[p.i]; {
	case c == '{':
		return depth < p.lim.MaxDepth && p.judgeObject(f, depth+1)
	case c == '[':
		return depth < p.lim.MaxDepth && p.judgeArray(f, depth+1)
	case c == '"':
		raw, dec, esc, err := p.strRaw()
		if err != nil {
			return false
		}
		return f == nil || f.judgeString(raw, dec, esc)
	case c == 't' || c == 'f':
		x := c == 't'
		word := "false"
		if x {
			word = "true"
		}
		if _, err := p.lit(word, x); err != nil {
			return false
		}
		return f == nil || (f.enum == nil || slices.Contains(f.enumBools, x)) && f.permits(openapi3.TypeBoolean)
	case c == 'n':
		_, err := p.lit("null", nil)
		return err == nil && f == nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if p.scanNumber() != nil {
			return false
		}
		return f == nil || f.checkNumber(string(p.b[start:p.i])) == valid
	}
	return false
}

// judgeString is checkString of a string value: its bytes in the input
// when it has no escapes, or its decoded value (esc). A string that only
// has to be of a type, or in an enum, is judged without being copied.
func (f *compiledSchema) judgeString(raw []byte, dec string, esc bool) bool {
	if esc {
		return f.checkString(dec) == valid
	}
	if f.minLen == 0 && f.maxLen == nil && f.pattern == nil && f.format == nil {
		if !f.permits(openapi3.TypeString) {
			return false
		}
		if f.enum != nil {
			_, ok := f.enum[string(raw)]
			return ok
		}
		return true
	}
	return f.checkString(string(raw)) == valid
}

// judgeObject parses an object as parser.object does (p.i at its '{',
// depth already counting it) and judges it as checkObject does.
func (p *parser) judgeObject(f *compiledSchema, depth int) bool {
	if f != nil && (f.enum != nil || !f.permits(openapi3.TypeObject)) {
		return false
	}
	p.i++ // {
	var keys [maxJudgedKeys][]byte
	n := 0
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return f.judgeMembers(keys[:0])
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return false
		}
		key, _, esc, err := p.strRaw()
		if err != nil || esc || n == len(keys) || n >= p.lim.MaxMembers || !isASCII(key) {
			return false
		}
		// parser.object refuses duplicate keys, also those differing only
		// in case: with ASCII keys, EqualFold of equal lengths.
		for _, prev := range keys[:n] {
			if len(prev) == len(key) && bytes.EqualFold(prev, key) {
				return false
			}
		}
		keys[n] = key
		n++
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		var vs *compiledSchema // nil: any value
		if f != nil {
			if s, ok := f.props[string(key)]; ok {
				if s.readOnly {
					return false // sent in a request body: kin-openapi decides
				}
				vs = s
			} else {
				switch f.addl {
				case 1:
					return false
				case 2:
					vs = f.addlS
				}
			}
		}
		if !p.judge(vs, depth) {
			return false
		}
		if more, err := p.afterMember('}'); err != nil || !more {
			return err == nil && f.judgeMembers(keys[:n])
		}
	}
}

// judgeMembers checks an object's member count and required members, as
// checkObject does, from its keys (f nil: any object).
func (f *compiledSchema) judgeMembers(keys [][]byte) bool {
	if f == nil {
		return true
	}
	n := uint64(len(keys))
	if n < f.minProps || f.maxProps != nil && n > *f.maxProps {
		return false
	}
next:
	for _, r := range f.required {
		for _, k := range keys {
			if string(k) == r {
				continue next
			}
		}
		return false
	}
	return true
}

// judgeArray parses an array as parser.array does (p.i at its '[', depth
// already counting it) and judges it as checkArray does. uniqueItems is
// judged for arrays of up to maxJudgedKeys strings without escapes.
func (p *parser) judgeArray(f *compiledSchema, depth int) bool {
	var items *compiledSchema
	unique := false
	if f != nil {
		if f.enum != nil || !f.permits(openapi3.TypeArray) {
			return false
		}
		items, unique = f.items, f.unique
	}
	var seen [maxJudgedKeys][]byte // the strings so far, when unique
	strs := true                   // every element so far a string without escapes
	p.i++                          // [
	n := 0
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return f.judgeLength(n)
	}
	for {
		if n >= p.lim.MaxMembers {
			return false
		}
		start := p.i
		if !p.judge(items, depth) {
			return false
		}
		if unique {
			if n == len(seen) {
				return false
			}
			raw := p.b[start:p.i]
			// A string without escapes is its bytes between the quotes.
			strs = strs && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0
			seen[n] = raw
		}
		n++
		if more, err := p.afterMember(']'); err != nil || !more {
			if err != nil || unique && n > 1 && (!strs || hasDuplicate(seen[:n])) {
				return false // checkArray is unsure of other items, and of duplicates
			}
			return f.judgeLength(n)
		}
	}
}

// hasDuplicate reports whether two of vals are equal.
func hasDuplicate(vals [][]byte) bool {
	for i, v := range vals {
		for _, w := range vals[:i] {
			if bytes.Equal(v, w) {
				return true
			}
		}
	}
	return false
}

// judgeLength checks an array's length against minItems and maxItems (f
// nil: any array).
func (f *compiledSchema) judgeLength(n int) bool {
	return f == nil || uint64(n) >= f.minItems && (f.maxItems == nil || uint64(n) <= *f.maxItems)
}

// isASCII reports whether b has only ASCII bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
