package validate

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestInjectDefaultsFillsWhatTheVisitorFills: defaults of absent or null
// properties are filled in, through allOf, nested objects, array items and
// additionalProperties, never for readOnly properties, never inside oneOf
// branches, and never over a value that was sent.
func TestInjectDefaultsFillsWhatTheVisitorFills(t *testing.T) {
	cases := []struct {
		name, schema, in, want string
		changed                bool
	}{
		{"absent property", `{"properties":{"n":{"default":1}}}`, `{}`, `{"n":1}`, true},
		{"null property", `{"properties":{"n":{"default":1}}}`, `{"n":null}`, `{"n":1}`, true},
		{"sent value kept", `{"properties":{"n":{"default":1}}}`, `{"n":5}`, `{"n":5}`, false},
		{"nested object", `{"properties":{"a":{"properties":{"b":{"default":"x"}}}}}`, `{"a":{}}`, `{"a":{"b":"x"}}`, true},
		{"default object gets its own defaults", `{"properties":{"a":{"default":{},"properties":{"b":{"default":2}}}}}`, `{}`, `{"a":{"b":2}}`, true},
		{"allOf", `{"allOf":[{"properties":{"a":{"default":1}}},{"properties":{"b":{"default":2}}}]}`, `{}`, `{"a":1,"b":2}`, true},
		{"array items", `{"items":{"properties":{"n":{"default":0}}}}`, `[{},{"n":3}]`, `[{"n":0},{"n":3}]`, true},
		{"additionalProperties", `{"properties":{"k":{}},"additionalProperties":{"properties":{"n":{"default":0}}}}`, `{"k":{},"x":{}}`, `{"k":{},"x":{"n":0}}`, true},
		{"readOnly skipped", `{"properties":{"id":{"readOnly":true,"default":7}}}`, `{}`, `{}`, false},
		{"oneOf branches skipped", `{"oneOf":[{"properties":{"n":{"default":1}}}]}`, `{}`, `{}`, false},
		{"no defaults", `{"properties":{"n":{"type":"integer"}}}`, `{}`, `{}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s openapi3.Schema
			if err := json.Unmarshal([]byte(tc.schema), &s); err != nil {
				t.Fatal(err)
			}
			var val any
			if err := json.Unmarshal([]byte(tc.in), &val); err != nil {
				t.Fatal(err)
			}
			changed := injectDefaults(val, &s, nil)
			got, _ := json.Marshal(val)
			if string(got) != tc.want || changed != tc.changed {
				t.Errorf("injectDefaults(%s, %s) = %s, %v; want %s, %v", tc.in, tc.schema, got, changed, tc.want, tc.changed)
			}
		})
	}
	// A filled-in default is a copy: filling it in again starts from the schema's.
	var s openapi3.Schema
	if err := json.Unmarshal([]byte(`{"properties":{"a":{"default":{},"properties":{"b":{"default":2}}}}}`), &s); err != nil {
		t.Fatal(err)
	}
	injectDefaults(map[string]any{}, &s, nil)
	if d, _ := json.Marshal(s.Properties["a"].Value.Default); string(d) != `{}` {
		t.Errorf("the schema's default became %s, want {}", d)
	}
}

// TestInjectDefaultsOn2020Bodies: with Config.InjectDefaults, a 3.1 body
// whose schema uses 2020-12 keywords is forwarded with its defaults filled
// in, and the filled-in value is what is validated (a default that breaks
// the schema gets the body rejected, as with kin-openapi's visitor).
func TestInjectDefaultsOn2020Bodies(t *testing.T) {
	cases := []struct {
		name, body, want string
		ok               bool
	}{
		{"defaults filled in", `{}`, `{"kind":"cat","n":1}`, true},
		{"sent values kept", `{"kind":"cat","n":4}`, `{"kind":"cat","n":4}`, true},
		{"invalid value", `{"kind":"dog"}`, "", false},
		{"invalid default filled in", `{"bad":{}}`, "", false},
	}
	for _, injected := range []bool{false, true} {
		v := mustLoad(t, spec31Carriers, Config{InjectDefaults: injected}) // its /defaults
		for _, tc := range cases {
			r := httptest.NewRequest("POST", "/defaults", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", jsonCT)
			out, err := v.ValidateRequest(r, []byte(tc.body))
			if (err == nil) != tc.ok && (injected || tc.name != "invalid default filled in") {
				t.Errorf("InjectDefaults=%v %s: accepted %v, want %v (%v)", injected, tc.name, err == nil, tc.ok, err)
				continue
			}
			want := tc.body
			if injected {
				want = tc.want
			}
			if err == nil && string(out) != want {
				t.Errorf("InjectDefaults=%v %s: forwarded %s, want %s", injected, tc.name, out, want)
			}
		}
	}
}
