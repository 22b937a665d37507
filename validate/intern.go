package validate

import (
	"encoding/json"
	"strconv"
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
