package validate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const docParamArrays = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a/{ids}:
    get:
      parameters:
        - {name: ids, in: path, required: true, schema: {type: array, items: {type: integer}, maxItems: 3}}
        - {name: X-Tags, in: header, schema: {type: array, items: {type: string, maxLength: 2}}}
        - {name: X-Flags, in: header, explode: true, schema: {type: array, items: {type: boolean}}}
        - {name: c, in: cookie, explode: false, schema: {type: array, items: {type: number, minimum: 0}}}
      responses: {"200": {description: ok}}
`

// TestCompiledParamArraysOutsideTheQuery: arrays in paths, headers and
// cookies are decoded for the compiled check (comma-separated, a cookie
// read unexploded), which calls the usual valid values valid and never one
// kin-openapi rejects.
func TestCompiledParamArraysOutsideTheQuery(t *testing.T) {
	v := mustLoad(t, docParamArrays, Config{})
	cases := []struct {
		target, tags, flags, cookie string
		want                        bool // every parameter settled as valid by the compiled check
	}{
		{"/a/1,2", "ab,c", "true,false", "c=1,2.5", true},
		{"/a/1", "", "", "", true},
		{"/a/1,x", "", "", "", false},
		{"/a/1,2,3,4", "", "", "", false},
		{"/a/1", "abc", "", "", false},
		{"/a/1", "a,,b", "", "", false},
		{"/a/1", "", "yes", "", false},
		{"/a/1", "", "", "c=-1", false},
		{"/a/1", "", "", "c=1,x", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.tags != "" {
			r.Header.Set("X-Tags", tc.tags)
		}
		if tc.flags != "" {
			r.Header.Set("X-Flags", tc.flags)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", tc.cookie)
		}
		m, err := v.find(r)
		if err != nil {
			t.Fatal(err)
		}
		got := true
		for _, p := range m.op.params {
			if p.compiled == nil {
				t.Fatalf("parameter %s was not compiled", p.Name)
			}
			if p.compiled.check(r, m.pathParams, nil) != valid {
				got = false
			}
		}
		if got != tc.want {
			t.Errorf("%s tags=%q flags=%q cookie=%q: compiled valid = %v, want %v", tc.target, tc.tags, tc.flags, tc.cookie, got, tc.want)
		}
		if kinErr := kin31(v, r, nil); got && kinErr != nil {
			t.Errorf("%s tags=%q flags=%q cookie=%q: compiled says valid, kin-openapi rejects: %v", tc.target, tc.tags, tc.flags, tc.cookie, kinErr)
		}
	}
}

// FuzzCompiledParamArraysAgreeWithKin: path, header and cookie arrays the
// compiled check calls valid are ones kin-openapi accepts.
func FuzzCompiledParamArraysAgreeWithKin(f *testing.F) {
	for _, s := range [][3]string{{"1,2", "ab,c", "1,2.5"}, {"1,x", "", ""}, {"1", "a,,b", "-1"}, {"%31", "a%2Cb", "1e2"}} {
		f.Add(s[0], s[1], s[2])
	}
	v := mustLoad(f, docParamArrays, Config{})
	f.Fuzz(func(t *testing.T, ids, tags, cookie string) {
		if strings.ContainsAny(ids, "/?#") || !validHeaderValue(tags) || !validHeaderValue(cookie) || strings.ContainsAny(cookie, ";\\") {
			return
		}
		build := func() *http.Request {
			r := httptest.NewRequest("GET", "/a/x", nil)
			r.URL.Path, r.URL.RawPath = "/a/"+ids, ""
			if tags != "" {
				r.Header.Set("X-Tags", tags)
			}
			if cookie != "" {
				r.Header.Set("Cookie", "c="+cookie)
			}
			return r
		}
		r := build()
		m, err := v.find(r)
		if err != nil || m.op == nil {
			return
		}
		for _, p := range m.op.params {
			if p.compiled.check(r, m.pathParams, nil) != valid {
				return
			}
		}
		if err := kin31(v, build(), nil); err != nil {
			t.Fatalf("ids=%q tags=%q cookie=%q: compiled says valid, kin-openapi rejects: %v", ids, tags, cookie, err)
		}
	})
}

// validHeaderValue reports whether s can be sent as a header value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return true
}

// TestCheckRawAgreesWithCheck: a parameter's raw value checked without
// boxing gets the verdict of the decoded value checked as JSON.
func TestCheckRawAgreesWithCheck(t *testing.T) {
	schemas := []string{
		`{"type":"string","minLength":2,"maxLength":3}`,
		`{"type":"string","enum":["a","bb"]}`,
		`{"type":"string","pattern":"^x"}`,
		`{"type":"string","format":"uuid"}`,
		`{"type":"integer","minimum":1,"maximum":10}`,
		`{"type":"integer","format":"int32"}`,
		`{"type":"number","exclusiveMinimum":true,"minimum":0}`,
		`{"type":"boolean"}`,
		`{"type":"string","allOf":[{"minLength":2}]}`,
		`{"type":"integer","oneOf":[{"minimum":5},{"maximum":1}]}`,
		`{"type":"integer","enum":[1,3]}`,
		`{"type":"number","enum":[0.5,10]}`,
		`{"type":"boolean","enum":[true]}`,
	}
	raws := []string{"", "a", "bb", "xyz", "abcd", "1", "0", "10", "11", "2.5", "1e2", "-3", "true", "false",
		"2147483648", "\xff", "5", "00000000-0000-0000-0000-000000000000"}
	fc := &schemaCompiler{formats: formatValidators(), done: map[*openapi3.Schema]*compiledSchema{}, busy: map[*openapi3.Schema]bool{}}
	for _, src := range schemas {
		var s openapi3.Schema
		if err := s.UnmarshalJSON([]byte(src)); err != nil {
			t.Fatal(err)
		}
		f := fc.compile(&s)
		if f == nil {
			t.Fatalf("%s: not compiled", src)
		}
		typ := s.Type.Slice()[0]
		for _, raw := range raws {
			want := unsure
			if v, ok := scalarOf(typ, raw); ok {
				want = f.check(v)
			}
			if got := f.checkRaw(typ, raw); got != want {
				t.Errorf("%s: checkRaw(%q) = %v, check = %v", src, raw, got, want)
			}
		}
	}
}

// TestCompiledSchemaCoversRecursionMultipleOfAndUnknownFormats: recursive
// schemas whose recursion goes through properties or items, integral
// multipleOf and formats kin-openapi does not know (and ignores) are
// compiled; a schema that is its own allOf is not (checking it would never
// end), and a recursive schema that fails to compile leaves no usable
// part behind.
func TestCompiledSchemaCoversRecursionMultipleOfAndUnknownFormats(t *testing.T) {
	v := mustLoad(t, `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
    Even: {type: integer, multipleOf: 2}
    Tenth: {type: number, multipleOf: 0.1}
    Host: {type: string, format: hostname}
    Loop: {allOf: [{$ref: "#/components/schemas/Loop2"}]}
    Loop2: {allOf: [{$ref: "#/components/schemas/Loop"}]}
    Bad:
      type: object
      properties:
        self: {$ref: "#/components/schemas/Bad"}
        odd: {type: string, not: {enum: [x]}}
`, Config{})
	fc := &schemaCompiler{formats: formatValidators(), done: map[*openapi3.Schema]*compiledSchema{}, busy: map[*openapi3.Schema]bool{}}
	schema := func(name string) *openapi3.Schema { return v.doc.Components.Schemas[name].Value }
	for _, name := range []string{"Loop", "Tenth", "Bad"} {
		if fc.compile(schema(name)) != nil {
			t.Errorf("%s was compiled", name)
		}
	}
	cases := []struct {
		schema, value string
		want          verdict
	}{
		{"Node", `{"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]}`, valid},
		{"Node", `{"name":"a","children":[{"name":"b","children":[{"name":1}]}]}`, unsure},
		{"Even", `6`, valid},
		{"Even", `1e2`, unsure}, // not an integer literal: kin-openapi decides
		{"Even", `7`, unsure},
		{"Even", `6.5`, unsure},
		{"Host", `"example.com"`, valid},
	}
	for _, tc := range cases {
		f := fc.compile(schema(tc.schema))
		if f == nil {
			t.Fatalf("%s was not compiled", tc.schema)
		}
		val, err := parseJSON([]byte(tc.value), v.cfg.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.check(val); got != tc.want {
			t.Errorf("%s.check(%s) = %v, want %v", tc.schema, tc.value, got, tc.want)
		}
	}
}

// TestNumbersKinCannotDecodeAreLeftToIt: a value kin-openapi's decoder
// refuses (an integer that overflows, a number out of float64's range) is
// never judged valid on the compiled path.
func TestNumbersKinCannotDecodeAreLeftToIt(t *testing.T) {
	cases := []struct {
		typ, raw string
		plain    bool
	}{
		{openapi3.TypeInteger, "2147483647", true},
		{openapi3.TypeInteger, "-2147483648", true},
		{openapi3.TypeInteger, "2147483648", false},
		{openapi3.TypeInteger, "10000000000000000000", false},
		{openapi3.TypeInteger, "1.0", false},
		{openapi3.TypeInteger, "1e2", false},
		{openapi3.TypeNumber, "1e308", true},
		{openapi3.TypeNumber, "-2.5", true},
		{openapi3.TypeNumber, "1e400", false},
		{openapi3.TypeNumber, "0x10", false},
	}
	for _, tc := range cases {
		if got := plainNumber(tc.typ, tc.raw); got != tc.plain {
			t.Errorf("plainNumber(%s, %q) = %v, want %v", tc.typ, tc.raw, got, tc.plain)
		}
		if _, ok := scalarOf(tc.typ, tc.raw); ok != tc.plain {
			t.Errorf("scalarOf(%s, %q) ok = %v, want %v", tc.typ, tc.raw, ok, tc.plain)
		}
	}
}
