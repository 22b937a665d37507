package validate

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// JSONLimits bounds what the JSON hardening pass accepts before any schema
// validation. The zero value of each field selects the default documented on
// it. The defaults keep the memory one body can make the parser allocate
// within a few times its size: no stack overflow from deep nesting, no
// quadratic work from many keys, no giant strings.
type JSONLimits struct {
	// MaxDepth is the deepest nesting of arrays and objects accepted. Default 64.
	MaxDepth int
	// MaxMembers is the most members one object or array may have. Default 10 000.
	MaxMembers int
	// MaxStringBytes is the longest string (key or value, after unescaping)
	// accepted, in bytes. Default 1 MiB.
	MaxStringBytes int
}

func (l JSONLimits) withDefaults() JSONLimits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = 10000
	}
	if l.MaxStringBytes <= 0 {
		l.MaxStringBytes = 1 << 20
	}
	return l
}

// jsonError is a rejection by the JSON hardening pass. path is built in
// reverse while the recursion unwinds, and only on failure.
type jsonError struct {
	reason string
	rpath  []string
}

func (e *jsonError) Error() string { return "validate: json: " + e.reason }

func (e *jsonError) pointer() string {
	var b strings.Builder
	for i := len(e.rpath) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(e.rpath[i]))
	}
	return b.String()
}

// parseJSON decodes b into the values encoding/json produces with UseNumber
// (map[string]any, []any, json.Number, string, bool, nil), rejecting input
// encoding/json would accept but interpret ambiguously: duplicate and
// case-variant duplicate keys, invalid UTF-8, lone surrogate escapes and
// numbers beyond float64. Depth, members and string length are capped.
func parseJSON(b []byte, lim JSONLimits) (any, error) {
	return parseJSONInterned(b, lim, nil)
}

// parseJSONInterned is parseJSON with strings taken from in when they
// match (in may be nil).
func parseJSONInterned(b []byte, lim JSONLimits, in *interned) (any, error) {
	p := parser{b: b, lim: lim, intern: in}
	p.ws()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, p.syntax("data after the top-level value")
	}
	return v, nil
}

type parser struct {
	b      []byte
	i      int
	lim    JSONLimits
	buf    []byte // scratch for unescaping
	intern *interned
}

func (p *parser) syntax(what string) *jsonError {
	return &jsonError{reason: "malformed JSON at offset " + strconv.Itoa(p.i) + ": " + what}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.i >= len(p.b) {
		return nil, p.syntax("unexpected end of input")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		if depth >= p.lim.MaxDepth {
			return nil, &jsonError{reason: "nesting deeper than " + strconv.Itoa(p.lim.MaxDepth)}
		}
		return p.object(depth + 1)
	case c == '[':
		if depth >= p.lim.MaxDepth {
			return nil, &jsonError{reason: "nesting deeper than " + strconv.Itoa(p.lim.MaxDepth)}
		}
		return p.array(depth + 1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		if p.intern != nil {
			if v, ok := p.intern.vals[s]; ok {
				return v, nil
			}
		}
		return s, nil
	case c == 't':
		return p.lit("true", true)
	case c == 'f':
		return p.lit("false", false)
	case c == 'n':
		return p.lit("null", nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.syntax("unexpected character")
	}
}

func (p *parser) lit(word string, v any) (any, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.syntax("invalid literal")
	}
	p.i += len(word)
	return v, nil
}

func (p *parser) object(depth int) (any, error) {
	p.i++ // {
	m := make(map[string]any)
	// The keys so far, for the case-variant check: the first few in an
	// array on this frame's stack, then folded into a set.
	var few [8]string
	var folded map[string]struct{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.syntax("expected a string key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if len(m) >= p.lim.MaxMembers {
			return nil, &jsonError{reason: "object has more than " + strconv.Itoa(p.lim.MaxMembers) + " members"}
		}
		// Case-variant duplicates: encoding/json matches struct fields
		// case-insensitively, so {"role":..,"ROLE":..} is ambiguous. The
		// keys before are pairwise different under case folding, so at
		// most one of them equals key either way.
		if folded == nil && len(m) < len(few) {
			for _, prev := range few[:len(m)] {
				if prev == key {
					return nil, &jsonError{reason: "duplicate key", rpath: []string{key}}
				}
				if strings.EqualFold(prev, key) {
					return nil, &jsonError{reason: "duplicate key differing only in case", rpath: []string{key}}
				}
			}
			few[len(m)] = key
		} else {
			if _, dup := m[key]; dup {
				return nil, &jsonError{reason: "duplicate key", rpath: []string{key}}
			}
			if folded == nil {
				folded = make(map[string]struct{}, 32)
				for _, prev := range few {
					folded[foldKey(prev)] = struct{}{}
				}
			}
			fk := foldKey(key)
			if _, dup := folded[fk]; dup {
				return nil, &jsonError{reason: "duplicate key differing only in case", rpath: []string{key}}
			}
			folded[fk] = struct{}{}
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.syntax("expected ':'")
		}
		p.i++
		p.ws()
		v, err := p.value(depth)
		if err != nil {
			if je, ok := err.(*jsonError); ok {
				je.rpath = append(je.rpath, key)
			}
			return nil, err
		}
		m[key] = v
		if more, err := p.afterMember('}'); err != nil {
			return nil, err
		} else if !more {
			return m, nil
		}
	}
}

// afterMember reads what follows a member of an object or array: a ','
// and the spaces after it (more), or the closing byte.
func (p *parser) afterMember(closing byte) (more bool, err error) {
	p.ws()
	if p.i >= len(p.b) {
		return false, p.syntax("unexpected end of input")
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		p.ws()
		return true, nil
	case closing:
		p.i++
		return false, nil
	}
	return false, p.syntax("expected ',' or '" + string(closing) + "'")
}

func (p *parser) array(depth int) (any, error) {
	p.i++ // [
	a := []any{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		if len(a) >= p.lim.MaxMembers {
			return nil, &jsonError{reason: "array has more than " + strconv.Itoa(p.lim.MaxMembers) + " elements"}
		}
		v, err := p.value(depth)
		if err != nil {
			if je, ok := err.(*jsonError); ok {
				je.rpath = append(je.rpath, strconv.Itoa(len(a)))
			}
			return nil, err
		}
		a = append(a, v)
		if more, err := p.afterMember(']'); err != nil {
			return nil, err
		} else if !more {
			return a, nil
		}
	}
}

func (p *parser) number() (any, error) {
	start := p.i
	if err := p.scanNumber(); err != nil {
		return nil, err
	}
	if p.intern != nil && p.i-start <= 3 {
		if v, ok := p.intern.nums[string(p.b[start:p.i])]; ok {
			return v, nil
		}
	}
	return json.Number(string(p.b[start:p.i])), nil
}

// scanNumber moves p.i past the number at p.i, refusing a malformed one
// and one beyond float64's range.
func (p *parser) scanNumber() error {
	start := p.i
	b := p.b
	if b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(b) && b[p.i] >= '0' && b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	switch {
	case p.i < len(b) && b[p.i] == '0':
		p.i++
	case digits() == 0:
		return p.syntax("invalid number")
	}
	simple := true
	if p.i < len(b) && b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return p.syntax("invalid number")
		}
	}
	if p.i < len(b) && (b[p.i] == 'e' || b[p.i] == 'E') {
		simple = false
		p.i++
		if p.i < len(b) && (b[p.i] == '+' || b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return p.syntax("invalid number")
		}
	}
	if !simple || p.i-start > 300 {
		if _, err := strconv.ParseFloat(string(b[start:p.i]), 64); err != nil {
			return &jsonError{reason: "number out of range"}
		}
	}
	return nil
}

// str parses a string starting at the opening quote.
func (p *parser) str() (string, error) {
	raw, dec, esc, err := p.strRaw()
	if err != nil || esc {
		return dec, err
	}
	if p.intern != nil {
		if k, ok := p.intern.keys[string(raw)]; ok { // no allocation for the lookup
			return k, nil
		}
	}
	return string(raw), nil
}

// strRaw parses a string starting at the opening quote: a string without
// escapes is returned as its bytes in the input (raw), one with escapes
// decoded (dec, esc true).
func (p *parser) strRaw() (raw []byte, dec string, esc bool, err error) {
	p.i++ // "
	b := p.b
	start := p.i
	for p.i < len(b) {
		c := b[p.i]
		if !strSpecial[c] {
			p.i++
			continue
		}
		switch {
		case c == '"':
			if p.i-start > p.lim.MaxStringBytes {
				return nil, "", false, &jsonError{reason: "string longer than " + strconv.Itoa(p.lim.MaxStringBytes) + " bytes"}
			}
			raw = b[start:p.i]
			p.i++
			return raw, "", false, nil
		case c == '\\':
			dec, err = p.strSlow(start)
			return nil, dec, true, err
		case c < 0x20:
			return nil, "", false, p.syntax("control character in string")
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRune(b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return nil, "", false, &jsonError{reason: "invalid UTF-8"}
			}
			p.i += size
		}
	}
	return nil, "", false, p.syntax("unterminated string")
}

// strSpecial marks the bytes strRaw has to look at: the closing quote, an
// escape, control characters and the bytes of multi-byte UTF-8 sequences.
var strSpecial = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// strSlow continues a string that has escapes, from start, the byte after
// its opening quote; p.i is at the first backslash.
func (p *parser) strSlow(start int) (string, error) {
	b := p.b
	out := append(p.buf[:0], b[start:p.i]...)
	for p.i < len(b) {
		if len(out) > p.lim.MaxStringBytes {
			return "", &jsonError{reason: "string longer than " + strconv.Itoa(p.lim.MaxStringBytes) + " bytes"}
		}
		c := b[p.i]
		switch {
		case c == '"':
			p.i++
			p.buf = out
			return string(out), nil
		case c == '\\':
			p.i++
			if p.i >= len(b) {
				return "", p.syntax("unterminated string")
			}
			e := b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.syntax("invalid \\u escape")
				}
				if r >= 0xDC00 && r <= 0xDFFF {
					return "", &jsonError{reason: "lone surrogate in \\u escape"}
				}
				if r >= 0xD800 && r <= 0xDBFF {
					if p.i+1 >= len(b) || b[p.i] != '\\' || b[p.i+1] != 'u' {
						return "", &jsonError{reason: "lone surrogate in \\u escape"}
					}
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", p.syntax("invalid \\u escape")
					}
					if r2 < 0xDC00 || r2 > 0xDFFF {
						return "", &jsonError{reason: "lone surrogate in \\u escape"}
					}
					r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", p.syntax("invalid escape")
			}
		case c < 0x20:
			return "", p.syntax("control character in string")
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, size := utf8.DecodeRune(b[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", &jsonError{reason: "invalid UTF-8"}
			}
			out = append(out, b[p.i:p.i+size]...)
			p.i += size
		}
	}
	return "", p.syntax("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// foldKey maps s to a key equal for exactly the strings strings.EqualFold
// considers equal: each rune becomes the smallest rune of its case-folding
// orbit.
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // the smallest rune of an ASCII letter's orbit is its upper case
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}
