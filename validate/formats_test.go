package validate

import (
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// FuzzUUIDFormat: the hand-written UUID check agrees with kin-openapi's
// regular expression.
func FuzzUUIDFormat(f *testing.F) {
	for _, s := range []string{pid, "00000000-0000-0000-0000-000000000000", "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF",
		"8c4f2a0e-3b1d-0c5e-9f00-1a2b3c4d5e6f", "8c4f2a0e-3b1d-4c5e-cf00-1a2b3c4d5e6f", "8c4f2a0e3b1d4c5e9f001a2b3c4d5e6f", "x"} {
		f.Add(s)
	}
	re := regexp.MustCompile(openapi3.FormatOfStringForUUIDOfRFC9562)
	f.Fuzz(func(t *testing.T, s string) {
		got, want := (uuidFormat{}).Validate(s) == nil, re.MatchString(s)
		if got != want {
			t.Fatalf("uuidFormat(%q) = %v, regexp = %v", s, got, want)
		}
	})
}
