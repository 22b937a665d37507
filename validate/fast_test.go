package validate

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"testing"
)

// TestFastPathEngagesAndAgrees checks, for every table case, that the fast
// path answers "valid" only where kin-openapi accepts, and that it does
// take the valid cases of the shop spec (so benchmarks measure it).
func TestFastPathEngagesAndAgrees(t *testing.T) {
	v := newShop(t, Config{})
	ref := newKinRef(t, false)
	fastParams, fastBodies := 0, 0
	for _, tc := range shopCases() {
		r := tc.q.build()
		m, err := v.find(r)
		if err != nil || m.op == nil {
			continue
		}
		q, _ := url.ParseQuery(r.URL.RawQuery)
		allFast := true
		for i, fp := range m.op.fastParams {
			if fp == nil {
				allFast = false
				continue
			}
			if fp.check(r, m.pathParams, q) == valid {
				fastParams++
				continue
			}
			allFast = false
			if tc.status == 200 {
				t.Errorf("%s/%s: fast path unsure about valid parameter %s", tc.op, tc.name, m.op.params[i].Name)
			}
		}
		bodyFast := tc.q.body == ""
		if tc.q.body != "" && isJSON(mediaType(tc.q.ct)) && m.op.body != nil {
			bodyFast = false
			if media := m.op.body.Content.Get(tc.q.ct); media != nil {
				if fs := m.op.fastBody[media]; fs != nil {
					if val, err := parseJSON([]byte(tc.q.body), v.cfg.JSON); err == nil && fs.check(val) == valid {
						bodyFast = true
						fastBodies++
					} else if tc.status == 200 {
						t.Errorf("%s/%s: fast path unsure about a valid body", tc.op, tc.name)
					}
				}
			}
		}
		basePath := strings.HasPrefix(tc.q.target, "/v1/") || strings.HasPrefix(tc.q.target, "/api/")
		missingBody := tc.q.body == "" && m.op.body != nil && m.op.body.Required
		if allFast && bodyFast && !basePath && !missingBody {
			if err := ref.validate(tc.q.build(), []byte(tc.q.body)); err != nil && tc.status != 401 && tc.status != 403 && tc.status != 415 {
				// Only schema verdicts are compared: the fast path does not judge security or media types.
				t.Errorf("%s/%s: fast path says valid, kin-openapi rejects: %v", tc.op, tc.name, err)
			}
		}
	}
	if fastParams < 40 || fastBodies < 15 {
		t.Errorf("fast path took %d parameters and %d bodies, want at least 40 and 15", fastParams, fastBodies)
	}
}

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
