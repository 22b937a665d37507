package validate

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const docForms = `openapi: 3.0.3
info: {title: forms, version: "1"}
paths:
  /untyped:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              properties: {name: {type: string}, age: {type: integer}}
      responses: {"200": {description: ok}}
  /required:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [token]
              properties: {name: {type: string}}
          multipart/form-data:
            schema:
              required: [token]
              properties: {name: {type: string}}
      responses: {"200": {description: ok}}
`

// TestFormSchemasAsOpenAPIMeansThem: a form schema without "type: object"
// and a required field outside "properties" validate the fields that are
// there, instead of rejecting every request.
func TestFormSchemasAsOpenAPIMeansThem(t *testing.T) {
	v := mustLoad(t, docForms, Config{})
	const form = "application/x-www-form-urlencoded"
	const multi = "multipart/form-data; boundary=XB"
	part := func(name, value string) string {
		return "--XB\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/untyped", ct: form, body: `name=x&age=3`, ok: true},
		{method: "POST", target: "/untyped", ct: form, body: `name=x&age=x`, ok: false},
		{method: "POST", target: "/required", ct: form, body: `token=abc&name=x`, ok: true},
		{method: "POST", target: "/required", ct: form, body: `name=x`, ok: false},
		{method: "POST", target: "/required", ct: multi, body: part("token", "abc") + part("name", "x") + "--XB--\r\n", ok: true},
		{method: "POST", target: "/required", ct: multi, body: part("name", "x") + "--XB--\r\n", ok: false},
	})
}

const docCompiledForm = `openapi: 3.0.3
info: {title: forms, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [id]
              properties:
                id: {type: integer, format: int32, minimum: 1}
                name: {type: string, maxLength: 3}
                ok: {type: boolean}
                kind: {type: string, enum: [a, b]}
                tags: {type: array, items: {type: integer}, maxItems: 2}
      responses: {"200": {description: ok}}
`

// TestCompiledFormAcceptsOnlyWhatKinAccepts: the compiled decoder of an
// urlencoded form calls valid the usual valid forms, and never one
// kin-openapi's decoder and visitor reject.
func TestCompiledFormAcceptsOnlyWhatKinAccepts(t *testing.T) {
	v := mustLoad(t, docCompiledForm, Config{})
	op := v.ops.root.static["f"].entry.methods["POST"]
	media := op.body.Content.Get("application/x-www-form-urlencoded")
	cf := op.forms[media]
	if cf == nil {
		t.Fatal("the form was not compiled")
	}
	for _, tc := range []struct {
		body   string
		want   bool // the compiled decoder settles it as valid
		direct bool // accepts settles it without decoding it
	}{
		{"id=1", true, true},
		{"id=7&name=abc&ok=true&kind=b", true, true},
		{"id=7&name=abc&ok=true&kind=b&tags=1&tags=2", true, false}, // arrays: decoded
		{"id=%31&&name=a+b", true, true},
		{"id=0", false, false},
		{"id=x", false, false},
		{"id=99999999999", false, false},
		{"name=abc", false, false},
		{"id=1&name=abcd", false, false},
		{"id=1&ok=yes", false, false},
		{"id=1&kind=c", false, false},
		{"id=1&tags=1&tags=2&tags=3", false, false},
		{"id=1&tags=x", false, false},
		{"id=1&name=", false, false}, // an empty value: kin-openapi decides
		{"id=1&id=2", false, false},
		{"i%64=1", true, false},   // an escaped name: decoded
		{"id=1&x=2", true, false}, // an undeclared field: decoded, judged by formextra.go
	} {
		form, err := url.ParseQuery(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		got := cf.valid(form)
		if got != tc.want {
			t.Errorf("valid(%s) = %v, want %v", tc.body, got, tc.want)
		}
		if direct := cf.accepts(tc.body); direct != tc.direct {
			t.Errorf("accepts(%s) = %v, want %v", tc.body, direct, tc.direct)
		}
		r := httptest.NewRequest("POST", "/f", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if kinErr := kin31(v, r, []byte(tc.body)); got && kinErr != nil {
			t.Errorf("%s: compiled decoder says valid, kin-openapi rejects: %v", tc.body, kinErr)
		}
	}
}

// FuzzCompiledFormAgreesWithKin: an urlencoded body the compiled form
// decoder calls valid is one kin-openapi's decoder and visitor accept, and
// validating any body never panics.
func FuzzCompiledFormAgreesWithKin(f *testing.F) {
	for _, s := range []string{"id=1", "id=7&name=abc&ok=true&kind=b&tags=1&tags=2", "id=0", "id=1&tags=x", "id=%31", "id=1&x=2", "id=1e0", "id=-0", "id=1&name=%ff",
		"id=1;name=a", "id=1&name=%4", "i%64=1&name=a+b", "id=1&&&name=%C3%A9"} {
		f.Add(s)
	}
	v := mustLoad(f, docCompiledForm, Config{})
	op := v.ops.root.static["f"].entry.methods["POST"]
	cf := op.forms[op.body.Content.Get("application/x-www-form-urlencoded")]
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/f", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = v.ValidateRequest(r, []byte(body))
		form, err := url.ParseQuery(body)
		if cf.accepts(body) && (err != nil || !cf.valid(form)) {
			t.Fatalf("%q: accepted in place, not once decoded (%v)", body, err)
		}
		if err != nil || !cf.valid(form) {
			return
		}
		r = httptest.NewRequest("POST", "/f", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := kin31(v, r, []byte(body)); err != nil {
			t.Fatalf("%q: compiled decoder says valid, kin-openapi rejects: %v", body, err)
		}
	})
}
