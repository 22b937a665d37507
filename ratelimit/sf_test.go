package ratelimit

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// A minimal RFC 8941 Structured Fields List parser for the header tests:
// items are strings, integers or tokens, with parameters.

type sfParam struct {
	key string
	val any // string, int64, sfToken or bool
}

type sfToken string

type sfItem struct {
	val    any
	params []sfParam
}

func (it sfItem) param(k string) (any, bool) {
	for _, p := range it.params {
		if p.key == k {
			return p.val, true
		}
	}
	return nil, false
}

var errSF = errors.New("invalid structured field")

func parseSFList(s string) ([]sfItem, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfItem
	for p.i < len(p.s) {
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
		p.skipOWS()
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, errSF
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return nil, errSF // trailing comma
		}
	}
	return out, nil
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, error) {
	v, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	it := sfItem{val: v}
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		k := p.key()
		if k == "" {
			return sfItem{}, errSF
		}
		var pv any = true
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if pv, err = p.bare(); err != nil {
				return sfItem{}, err
			}
		}
		it.params = append(it.params, sfParam{k, pv})
	}
	return it, nil
}

func (p *sfParser) key() string {
	j := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c == '*' || p.i > j && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	return p.s[j:p.i]
}

func (p *sfParser) bare() (any, error) {
	if p.i >= len(p.s) {
		return nil, errSF
	}
	switch c := p.s[p.i]; {
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			c := p.s[p.i]
			switch {
			case c == '\\':
				p.i++
				if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return nil, errSF
				}
				b.WriteByte(p.s[p.i])
			case c == '"':
				p.i++
				return b.String(), nil
			case c < 0x20 || c > 0x7e:
				return nil, errSF
			default:
				b.WriteByte(c)
			}
		}
		return nil, errSF
	case c == '-' || c >= '0' && c <= '9':
		j := p.i
		p.i++
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i-j > 15 || p.s[j:p.i] == "-" {
			return nil, errSF
		}
		n, err := strconv.ParseInt(p.s[j:p.i], 10, 64)
		return n, err
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		j := p.i
		for p.i < len(p.s) && strings.IndexByte("!#$%&'*+-.^_`|~:/", p.s[p.i]) >= 0 ||
			p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z') {
			p.i++
		}
		return sfToken(p.s[j:p.i]), nil
	}
	return nil, errSF
}

func TestSFParser(t *testing.T) {
	tests := []struct {
		in string
		n  int
		ok bool
	}{
		{`"a";q=1;w=2, "b";q=3`, 2, true},
		{`"x\"y\\z";r=0;t=-1`, 1, true},
		{`tok;flag`, 1, true},
		{`"a",`, 0, false},
		{`"a" "b"`, 0, false},
		{`"unterminated`, 0, false},
		{`"a";Q=1`, 0, false},
		{`"a";q=1234567890123456`, 0, false},
	}
	for _, tc := range tests {
		items, err := parseSFList(tc.in)
		if (err == nil) != tc.ok || len(items) != tc.n {
			t.Errorf("parseSFList(%q) = %v, %v; want %d items, ok=%v", tc.in, items, err, tc.n, tc.ok)
		}
	}
}
