package reqkey

import (
	"net/url"
	"testing"
)

func TestQueryValueReadsTheFirstValueAsParseQueryWould(t *testing.T) {
	for _, tc := range []struct {
		raw, name, want string
		ok              bool
	}{
		{"a=1&a=2", "a", "1", true},
		{"a=%zz&a=2", "a", "2", true},
		{"a;b=1&a=3", "a", "3", true},
		{"%61=x", "a", "x", true},
		{"a=b=c", "a", "b=c", true},
		{"a", "a", "", true},
		{"b=1", "a", "", false},
		{"", "a", "", false},
		{"sp=a+b", "sp", "a b", true},
	} {
		got, ok := QueryValue(tc.raw, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("QueryValue(%q, %q) = %q, %v, want %q, %v", tc.raw, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzQueryValue checks the allocation-light query scanner against
// url.ParseQuery.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1&a=2", "a", "a=%zz&a=2", "a;b=1&a=3", "%61=x", "a=b=c", "&&a=&", "a+b=1"} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		vals, _ := url.ParseQuery(raw)
		want, wantOK := vals.Get(name), vals.Has(name)
		if got, ok := QueryValue(raw, name); got != want || ok != wantOK {
			t.Fatalf("QueryValue(%q, %q) = %q, %v; url.ParseQuery gives %q, %v", raw, name, got, ok, want, wantOK)
		}
	})
}
