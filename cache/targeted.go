package cache

import (
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/internal/header"
)

// cdnCacheControl is the targeted field of RFC 9213 aimed at every CDN
// cache, which a gateway cache is one of.
const cdnCacheControl = "Cdn-Cache-Control"

// surrogateControl is the Edge Architecture 1.0 field addressed to
// surrogates, the caches an origin's operator runs in front of it.
const surrogateControl = "Surrogate-Control"

// responseDirectives returns the cache directives of a response for this
// cache (RFC 9213 §2.2): those of Config.TargetedCacheControl when the
// response carries it as a valid dictionary, else those of
// CDN-Cache-Control (unless Config.IgnoreCDNCacheControl), else those of
// Surrogate-Control addressed to this cache (unless
// Config.IgnoreSurrogateControl), else those of Cache-Control. A targeted
// field that is used replaces Cache-Control entirely, including its
// no-store, private and no-cache.
func (c *Cache) responseDirectives(h http.Header) directives {
	if c.cfg.TargetedCacheControl != "" {
		if d, ok := parseTargeted(h[c.cfg.TargetedCacheControl]); ok {
			return d
		}
	}
	if !c.cfg.IgnoreCDNCacheControl {
		if d, ok := parseTargeted(h[cdnCacheControl]); ok {
			return d
		}
	}
	if !c.cfg.IgnoreSurrogateControl {
		if d, ok := parseSurrogateControl(h[surrogateControl], c.cfg.Name); ok {
			return d
		}
	}
	return parseDirectives(h["Cache-Control"])
}

// parseSurrogateControl parses the lines vals of a Surrogate-Control field
// for the surrogate named token. A directive may end in ";device" to
// address one surrogate; one addressed to token overrides the same
// directive addressed to all. Only max-age (its "+delta" extension is
// ignored) and no-store mean anything to this cache. It reports false
// when no directive it understands applies to token, leaving
// Cache-Control in force.
func parseSurrogateControl(vals []string, token string) (directives, bool) {
	d := parseDirectives(nil)
	applied := false
	var seen [2]bool                              // max-age, no-store
	for _, pass := range [...]bool{true, false} { // addressed to token first
		for _, v := range vals {
			for len(v) > 0 {
				var name, arg string
				name, arg, v = nextDirective(v)
				target := ""
				if i := strings.IndexByte(name, ';'); i >= 0 {
					name, target = strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
				} else if i := strings.IndexByte(arg, ';'); i >= 0 {
					arg, target = strings.TrimSpace(arg[:i]), strings.TrimSpace(arg[i+1:])
				}
				if (target != "") != pass || (target != "" && !strings.EqualFold(target, token)) {
					continue
				}
				switch {
				case name == "max-age" && !seen[0]:
					arg, _, _ = strings.Cut(arg, "+")
					d.MaxAge, seen[0], applied = parseDelta(arg), true, true
				case name == "no-store" && !seen[1]:
					d.NoStore, seen[1], applied = true, true, true
				}
			}
		}
	}
	return d, applied
}

// parseTargeted parses the lines vals of a targeted cache-control field:
// an RFC 8941 Dictionary whose members are cache directives (RFC 9213
// §2.1). It reports false when the field is absent or not a valid
// Dictionary, in which case the field is ignored as a whole. A directive
// whose value has the wrong type (max-age="10", no-store=5) is ignored
// alone; ?0 switches a directive off; parameters are ignored.
func parseTargeted(vals []string) (directives, bool) {
	d := parseDirectives(nil)
	if len(vals) == 0 {
		return d, false
	}
	p := sfParser{s: strings.Join(vals, ",")}
	p.skip(" ")
	seen := map[string]bool{}
	for !p.done() {
		key, ok := p.key()
		if !ok {
			return d, false
		}
		var v sfValue
		if p.eat('=') {
			if v, ok = p.memberValue(); !ok {
				return d, false
			}
		} else {
			v = sfValue{kind: sfBool, b: true}
		}
		if !p.params() {
			return d, false
		}
		if !seen[key] {
			seen[key] = true
			d.setTargeted(key, v)
		}
		p.skip(" \t")
		if p.done() {
			break
		}
		if !p.eat(',') {
			return d, false
		}
		p.skip(" \t")
		if p.done() {
			return d, false // a trailing comma
		}
	}
	return d, true
}

// setTargeted records directive key with value v in d, when v has the
// type the directive takes.
func (d *directives) setTargeted(key string, v sfValue) {
	if p, _ := deltaField(d, key); p != nil {
		if v.kind == sfInt && v.n >= 0 {
			*p = min(v.n, maxDelta)
		}
		return
	}
	switch {
	case (key == "no-cache" || key == "private") && v.kind == sfString:
		if key == "no-cache" {
			d.NoCacheFields = fieldNames(v.str)
		} else {
			d.PrivateFields = fieldNames(v.str)
		}
		return
	case v.kind != sfBool || !v.b:
		return
	}
	if f := flagField(d, key); f != nil {
		*f = true
	}
}

// The types of RFC 8941 values parseTargeted tells apart.
const (
	sfOther  = iota // decimal, token, byte sequence or inner list
	sfInt           // integer
	sfString        // string
	sfBool          // boolean
)

// An sfValue is a parsed Dictionary member value.
type sfValue struct {
	kind int
	n    int64
	str  string
	b    bool
}

// sfParser consumes an RFC 8941 Dictionary from s.
type sfParser struct{ s string }

func (p *sfParser) done() bool { return len(p.s) == 0 }

func (p *sfParser) eat(c byte) bool {
	if len(p.s) > 0 && p.s[0] == c {
		p.s = p.s[1:]
		return true
	}
	return false
}

func (p *sfParser) skip(set string) { p.s = strings.TrimLeft(p.s, set) }

// key parses key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	if len(p.s) == 0 || !(p.s[0] >= 'a' && p.s[0] <= 'z' || p.s[0] == '*') {
		return "", false
	}
	i := 1
	for i < len(p.s) {
		c := p.s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		i++
	}
	k := p.s[:i]
	p.s = p.s[i:]
	return k, true
}

// memberValue parses an item or an inner list.
func (p *sfParser) memberValue() (sfValue, bool) {
	if !p.eat('(') {
		return p.bareItem()
	}
	for {
		p.skip(" ")
		if p.eat(')') {
			return sfValue{kind: sfOther}, true
		}
		if _, ok := p.bareItem(); !ok || !p.params() {
			return sfValue{}, false
		}
		if len(p.s) > 0 && p.s[0] != ' ' && p.s[0] != ')' {
			return sfValue{}, false
		}
	}
}

// params parses *( ";" *SP key [ "=" bare-item ] ).
func (p *sfParser) params() bool {
	for p.eat(';') {
		p.skip(" ")
		if _, ok := p.key(); !ok {
			return false
		}
		if p.eat('=') {
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// bareItem parses an integer, decimal, string, token, byte sequence or boolean.
func (p *sfParser) bareItem() (sfValue, bool) {
	if len(p.s) == 0 {
		return sfValue{}, false
	}
	switch c := p.s[0]; {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		var b strings.Builder
		for i := 1; i < len(p.s); i++ {
			switch c := p.s[i]; {
			case c == '\\':
				if i+1 == len(p.s) || (p.s[i+1] != '"' && p.s[i+1] != '\\') {
					return sfValue{}, false
				}
				i++
				b.WriteByte(p.s[i])
			case c == '"':
				p.s = p.s[i+1:]
				return sfValue{kind: sfString, str: b.String()}, true
			case c < 0x20 || c > 0x7e:
				return sfValue{}, false
			default:
				b.WriteByte(c)
			}
		}
		return sfValue{}, false
	case c == '?':
		if len(p.s) < 2 || (p.s[1] != '0' && p.s[1] != '1') {
			return sfValue{}, false
		}
		v := sfValue{kind: sfBool, b: p.s[1] == '1'}
		p.s = p.s[2:]
		return v, true
	case c == ':':
		end := strings.IndexByte(p.s[1:], ':')
		if end < 0 || strings.Trim(p.s[1:1+end], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
			return sfValue{}, false
		}
		p.s = p.s[end+2:]
		return sfValue{kind: sfOther}, true
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		i := 1
		for i < len(p.s) && (header.IsTokenChar(p.s[i]) || p.s[i] == ':' || p.s[i] == '/') {
			i++
		}
		p.s = p.s[i:]
		return sfValue{kind: sfOther}, true
	}
	return sfValue{}, false
}

// number parses an integer (at most 15 digits) or a decimal (at most 12
// integer and 3 fractional digits).
func (p *sfParser) number() (sfValue, bool) {
	i, neg := 0, false
	if p.s[0] == '-' {
		i, neg = 1, true
	}
	start := i
	for i < len(p.s) && p.s[i] >= '0' && p.s[i] <= '9' {
		i++
	}
	digits := i - start
	if digits == 0 {
		return sfValue{}, false
	}
	if i < len(p.s) && p.s[i] == '.' {
		j := i + 1
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if digits > 12 || j == i+1 || j-i-1 > 3 {
			return sfValue{}, false
		}
		p.s = p.s[j:]
		return sfValue{kind: sfOther}, true
	}
	if digits > 15 {
		return sfValue{}, false
	}
	var n int64
	for _, c := range []byte(p.s[start:i]) {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	p.s = p.s[i:]
	return sfValue{kind: sfInt, n: n}, true
}

// validFieldName reports whether s is empty or a field name (a token).
func validFieldName(s string) bool { return s == "" || header.IsToken(s) }
