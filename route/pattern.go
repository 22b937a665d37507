package route

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gatekit/gatekit/pathcanon"
)

// Segment kinds, in order of specificity (chi's order: static, regexp
// parameter, parameter, wildcard).
const (
	segStatic int8 = iota
	segRegexp
	segParam
	segWild
)

// pattern is a parsed path pattern: whole-segment static text, {name},
// {name:regexp} or a final "*".
type pattern struct {
	text string
	segs []pseg
	rank []int8 // segment kinds; lexicographically smaller is more specific
}

type pseg struct {
	kind int8
	lit  string // static text, or the parameter name
	re   *regexp.Regexp
}

// ParsePattern validates a path pattern as New does and returns it in
// canonical form. A pattern starts with '/', is at most MaxRegexLen bytes,
// has parameters ({name} or {name:RE2}) that fill whole segments, an
// optional final "*" segment, and canonical literal segments.
func ParsePattern(s string) (string, error) {
	p, err := parsePattern(s)
	if err != nil {
		return "", err
	}
	return p.text, nil
}

func parsePattern(s string) (*pattern, error) {
	if len(s) > MaxRegexLen {
		return nil, fmt.Errorf("pattern longer than %d bytes", MaxRegexLen)
	}
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("pattern must start with '/'")
	}
	p := &pattern{text: s}
	names := map[string]bool{}
	rest := s[1:]
	for {
		var seg string
		last := false
		if strings.HasPrefix(rest, "{") {
			// A parameter: find the matching '}' (regexps may contain braces).
			depth, j := 0, 0
			for ; j < len(rest); j++ {
				if rest[j] == '{' {
					depth++
				} else if rest[j] == '}' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if depth != 0 {
				return nil, fmt.Errorf("unbalanced '{'")
			}
			seg, rest = rest[:j+1], rest[j+1:]
			if rest != "" && rest[0] != '/' {
				return nil, fmt.Errorf("parameter %s must fill its segment", seg)
			}
		} else {
			k := strings.IndexByte(rest, '/')
			if k < 0 {
				k = len(rest)
			}
			seg, rest = rest[:k], rest[k:]
		}
		if rest == "" {
			last = true
		} else {
			rest = rest[1:]
		}
		ps, err := parseSeg(seg, last, names)
		if err != nil {
			return nil, err
		}
		p.segs = append(p.segs, ps)
		p.rank = append(p.rank, ps.kind)
		if last {
			return p, nil
		}
	}
}

func parseSeg(seg string, last bool, names map[string]bool) (pseg, error) {
	switch {
	case seg == "*":
		if !last {
			return pseg{}, fmt.Errorf("'*' must be the last segment")
		}
		return pseg{kind: segWild, lit: "*"}, nil
	case strings.HasPrefix(seg, "{"):
		name, rx, hasRx := strings.Cut(seg[1:len(seg)-1], ":")
		if name == "" || strings.ContainsAny(name, "/{}*") {
			return pseg{}, fmt.Errorf("invalid parameter name %q", name)
		}
		if names[name] {
			return pseg{}, fmt.Errorf("duplicate parameter %q", name)
		}
		names[name] = true
		if !hasRx {
			return pseg{kind: segParam, lit: name}, nil
		}
		if rx == "" || strings.Contains(rx, "/") {
			return pseg{}, fmt.Errorf("invalid parameter expression %q", rx)
		}
		// Anchored as chi anchors it.
		if rx[0] != '^' {
			rx = "^" + rx
		}
		if rx[len(rx)-1] != '$' {
			rx += "$"
		}
		re, err := regexp.Compile(rx)
		if err != nil {
			return pseg{}, fmt.Errorf("parameter %q: %w", name, err)
		}
		return pseg{kind: segRegexp, lit: name, re: re}, nil
	}
	if strings.ContainsAny(seg, "{}*") {
		return pseg{}, fmt.Errorf("segment %q: '{', '}' and '*' are only allowed as whole parameter or wildcard segments", seg)
	}
	if c, err := pathcanon.Path("/" + seg); err != nil || c != "/"+seg {
		return pseg{}, fmt.Errorf("segment %q is not canonical (%q)", seg, c)
	}
	return pseg{kind: segStatic, lit: seg}, nil
}

// match matches a canonical path and appends the parameters to params.
// Parameters match one non-empty segment; "*" matches the rest after its
// '/', possibly empty.
func (p *pattern) match(path string, params []Param) ([]Param, bool) {
	rest := path[1:]
	for i, s := range p.segs {
		if s.kind == segWild {
			return append(params, Param{Name: "*", Value: rest}), true
		}
		k := strings.IndexByte(rest, '/')
		last := k < 0
		if last {
			k = len(rest)
		}
		seg := rest[:k]
		switch s.kind {
		case segStatic:
			if seg != s.lit {
				return params, false
			}
		case segRegexp, segParam:
			if seg == "" || s.re != nil && !s.re.MatchString(seg) {
				return params, false
			}
			params = append(params, Param{Name: s.lit, Value: seg})
		}
		if i == len(p.segs)-1 {
			return params, last
		}
		if last {
			return params, false
		}
		rest = rest[k+1:]
	}
	return params, false
}

// mayOverlap reports whether some path could match both patterns. It may
// answer true for patterns that never overlap (regexps are not compared).
func (p *pattern) mayOverlap(q *pattern) bool {
	for i := 0; ; i++ {
		if i == len(p.segs) || i == len(q.segs) {
			return len(p.segs) == len(q.segs)
		}
		a, b := p.segs[i], q.segs[i]
		if a.kind == segWild || b.kind == segWild {
			return true
		}
		switch {
		case a.kind == segStatic && b.kind == segStatic:
			if a.lit != b.lit {
				return false
			}
		case a.kind == segStatic:
			if a.lit == "" || b.re != nil && !b.re.MatchString(a.lit) {
				return false
			}
		case b.kind == segStatic:
			if b.lit == "" || a.re != nil && !a.re.MatchString(b.lit) {
				return false
			}
		}
	}
}

// lessSpecific orders patterns by specificity: segment kinds compared left
// to right, then the pattern text.
func lessSpecific(a, b *pattern) int {
	if c := slices.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	return strings.Compare(a.text, b.text)
}
