package validate

import (
	"net/url"
	"regexp"
	"sort"
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

// FuzzFastSchema: for every component schema of the shop spec, a value the
// compiled fast path calls valid is accepted by kin-openapi's visitor.
func FuzzFastSchema(f *testing.F) {
	for _, s := range []string{
		`{"amount":1,"currency":"EUR"}`, `{"line1":"a","city":"b","country":"DE","postcode":"1234"}`,
		`{"method":"card","token":"tok_12345678","amount":{"amount":0,"currency":"USD"}}`,
		`{"method":"bank","iban":"NL91ABNA0417164300","amount":{"amount":1e2,"currency":"GBP"}}`,
		`{"firstName":"A","lastName":"B","email":"a@b.c","birthDate":"2000-02-29"}`,
		`{"op":"delete","productId":"` + pid + `"}`, `"pending"`, `"ab-c"`, `{"rating":5,"title":"😀"}`,
		`{"customerId":1,"items":[{"productId":"` + pid + `","quantity":99}],"coupon":null}`,
	} {
		for i := range 4 {
			f.Add(uint8(i), []byte(s))
		}
	}
	v := newShop(f, Config{})
	var names []string
	for name := range v.doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	fc := &fastCompiler{formats: formatValidators(), done: map[*openapi3.Schema]*fastSchema{}, busy: map[*openapi3.Schema]bool{}}
	compiled := map[string]*fastSchema{}
	for _, n := range names {
		if fs := fc.compile(v.doc.Components.Schemas[n].Value); fs != nil {
			compiled[n] = fs
		}
	}
	if len(compiled) < len(names)-2 {
		f.Fatalf("only %d of %d schemas compiled", len(compiled), len(names))
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		val, err := parseJSON(b, v.cfg.JSON)
		if err != nil {
			return
		}
		for off := range 3 {
			name := names[(int(which)+off)%len(names)]
			fs := compiled[name]
			if fs == nil || fs.check(val) != valid {
				continue
			}
			if err := v.doc.Components.Schemas[name].Value.VisitJSON(val, v.bodyOpts...); err != nil {
				t.Fatalf("fast path accepts %s for %s, kin-openapi rejects it: %v", b, name, err)
			}
		}
	})
}
