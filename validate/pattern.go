package validate

import (
	"regexp"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/getkin/kin-openapi/openapi3"
)

// JSON Schema patterns are ECMA-262 regular expressions, which Go's regexp
// (RE2) only partly understands: it refuses lookaround and backreferences,
// and it reads some escapes differently (\s, \A, \z, \p, [[:alpha:]], ".").
// A pattern is compiled with Go's regexp when it can be rewritten into an
// RE2 expression that matches exactly the same strings (linear time, the
// common case), and with regexp2 in ECMAScript mode otherwise. regexp2
// backtracks, so each of its matches is bounded by patternTimeout: a
// hostile pattern or input cannot hold a request for longer.

// patternTimeout bounds one match of a pattern run by regexp2. A match cut
// short counts as a mismatch: the value is rejected. regexp2 checks
// deadlines against a clock that ticks every 100 ms, so a match stops
// within patternTimeout plus one tick.
const patternTimeout = 2 * time.Millisecond

// matcher is a compiled pattern. MatchString reports whether s contains a
// match. It satisfies kin-openapi's RegexMatcher and the JSON Schema
// library's Regexp.
type matcher interface {
	MatchString(s string) bool
	String() string
}

// ecmaRegexp is a pattern run by regexp2.
type ecmaRegexp struct{ re *regexp2.Regexp }

func (e ecmaRegexp) MatchString(s string) bool {
	ok, err := e.re.MatchString(s)
	return ok && err == nil
}

func (e ecmaRegexp) String() string { return e.re.String() }

// compilePattern compiles an ECMA-262 pattern.
func compilePattern(expr string) (matcher, error) {
	if re2, ok := re2Equivalent(expr); ok {
		if re, err := regexp.Compile(re2); err == nil {
			return re, nil
		}
	}
	re, err := regexp2.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = patternTimeout
	return ecmaRegexp{re}, nil
}

// kinPattern is compilePattern for kin-openapi.
func kinPattern(expr string) (openapi3.RegexMatcher, error) {
	m, err := compilePattern(expr)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ecmaSpace is ECMA-262's \s (WhiteSpace and LineTerminator) as the inside
// of an RE2 character class; RE2's \s is ASCII only.
const ecmaSpace = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

// re2Equivalent rewrites an ECMA-262 pattern (without flags) into an RE2
// expression that matches the same strings, or reports false when it does
// not know how. The rewrites: "." excludes every ECMA-262 line terminator,
// \s and \S take ECMA-262's white space, \uXXXX becomes \x{XXXX}. Anything
// the two dialects read differently (letter escapes other than the shared
// ones, backreferences, POSIX classes, empty classes, group modifiers) is
// refused, and regexp2 compiles the pattern instead.
func re2Equivalent(p string) (string, bool) {
	var b strings.Builder
	b.Grow(len(p) + 16)
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 >= len(p) {
				return "", false
			}
			n := p[i+1]
			i++
			switch {
			case strings.IndexByte("dDwWbBtnrfv", n) >= 0:
				b.WriteByte('\\')
				b.WriteByte(n)
			case n == 's':
				if inClass {
					b.WriteString(ecmaSpace)
				} else {
					b.WriteString("[" + ecmaSpace + "]")
				}
			case n == 'S' && !inClass:
				b.WriteString("[^" + ecmaSpace + "]")
			case n == 'u' && i+4 < len(p) && isHex4(p[i+1:i+5]):
				b.WriteString(`\x{` + p[i+1:i+5] + `}`)
				i += 4
			case n == 'x' && i+2 < len(p) && isHex4("00"+p[i+1:i+3]):
				b.WriteString(`\x` + p[i+1:i+3])
				i += 2
			case n < 0x80 && !isAlnum(n):
				b.WriteByte('\\')
				b.WriteByte(n)
			default:
				return "", false
			}
		case inClass:
			if c == '[' && i+1 < len(p) && p[i+1] == ':' {
				return "", false
			}
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
		case c == '[':
			if strings.HasPrefix(p[i:], "[]") || strings.HasPrefix(p[i:], "[^]") {
				return "", false
			}
			inClass = true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				return "", false
			}
		case c == '.':
			b.WriteString(`[^\n\r\x{2028}\x{2029}]`)
		case c == '(' && i+1 < len(p) && p[i+1] == '?':
			if !strings.HasPrefix(p[i:], "(?:") {
				return "", false
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	if inClass {
		return "", false
	}
	return b.String(), true
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := range 4 {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
