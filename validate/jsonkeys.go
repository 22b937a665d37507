package validate

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// interned holds strings known from the spec (property names, enum
// values) so that parsing a body does not allocate them again: keys are
// shared strings, values are shared boxed interfaces.
type interned struct {
	keys map[string]string
	vals map[string]any
	nums map[string]any // small integers as json.Number
}

func newInterned() *interned {
	in := &interned{keys: map[string]string{}, vals: map[string]any{}, nums: map[string]any{}}
	for i := range 256 {
		n := strconv.Itoa(i)
		in.nums[n] = json.Number(n)
	}
	return in
}

func (in *interned) addKey(k string) {
	if _, ok := in.keys[k]; !ok {
		in.keys[k] = k
	}
}

func (in *interned) addVal(v string) {
	if _, ok := in.vals[v]; !ok {
		in.vals[v] = v
	}
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
