package validate

import (
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPI31Visitor30AgreesWithKin: 3.1 schemas without 2020-12 keywords are
// validated by the 3.0 visitor (openapi31.go); the verdict must be kin-openapi's
// own with its JSON Schema 2020-12 validator, "nullable" (no effect in 3.1)
// included.
func TestOpenAPI31Visitor30AgreesWithKin(t *testing.T) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := v.ops.root.static["pets"].entry
	op := e.methods["POST"]
	media := op.body.Content.Get(jsonCT)
	if op.body30[media] == nil {
		t.Fatal("POST /pets is not validated by the 3.0 visitor")
	}
	if put := v.ops.root.static["pets"].params[0].next.entry.methods["PUT"]; put.body30[put.body.Content.Get(jsonCT)] != nil {
		t.Fatal("PUT /pets/{id} (const, prefixItems) must keep the 2020-12 validator")
	}
	for _, body := range []string{
		`{"name":"Tom"}`, `{"name":"T"}`, `{"name":"Tomas"}`, `{"name":"Tom","tag":null}`, `{"name":"Tom","tag":"x"}`,
		`{"name":"Tom","legacy":null}`, `{"name":"Tom","legacy":"x"}`, `{"name":5}`, `{}`, `[]`, `null`, `{"name":"Tom","x":1}`,
	} {
		val, err := parseJSON([]byte(body), JSONLimits{}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		want := media.Schema.Value.VisitJSON(val, openapi3.VisitAsRequest(), openapi3.EnableJSONSchema2020()) == nil
		_, err = v.ValidateRequest(req{method: "POST", target: "/pets", ct: jsonCT, noKey: true}.build(), []byte(body))
		if got := err == nil; got != want {
			t.Errorf("%s: accepted %v, kin-openapi (2020-12) %v (%v)", body, got, want, err)
		}
	}
}

// TestOpenAPI31RejectionCompilesNoValidator: rejecting a request against a 3.1 schema
// with common keywords must not compile a JSON Schema validator (hundreds
// of allocations and ~200 µs per request before).
func TestOpenAPI31RejectionCompilesNoValidator(t *testing.T) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := req{method: "POST", target: "/pets", ct: jsonCT, noKey: true}.build()
	body := []byte(`{"name":"T","legacy":5}`)
	if _, err := v.ValidateRequest(r, body); err == nil {
		t.Fatal("accepted")
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, body) })
	if allocs > 150 {
		t.Errorf("%.0f allocations per rejected request, want <= 150", allocs)
	}
}

// BenchmarkOpenAPI31 measures 3.1 bodies, valid and invalid: one schema
// uses JSON Schema 2020-12 keywords (const, prefixItems), which kin-openapi
// validates with a validator it compiles on every call; the other uses
// common keywords only: valid bodies take the compiled path, invalid ones
// kin-openapi's 3.0 visitor (openapi31.go).
func BenchmarkOpenAPI31(b *testing.B) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, method, target, body string
		invalid                    bool
	}{
		{"2020-keywords", "PUT", "/pets/1", `{"kind":"pet","tag":null,"size":1.5,"pair":["a",1]}`, false},
		{"2020-keywords-invalid", "PUT", "/pets/1", `{"kind":"cat","tag":5,"size":0,"pair":[1,"a"]}`, true},
		{"common-keywords", "POST", "/pets", `{"name":"Tom","tag":null}`, false},
		{"common-keywords-invalid", "POST", "/pets", `{"name":"T","tag":5,"legacy":null}`, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := req{method: bc.method, target: bc.target, ct: jsonCT, noKey: true}.build()
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); (err != nil) != bc.invalid {
					b.Fatal(err)
				}
			}
		})
	}
}

const spec31 = `openapi: 3.1.0
info: {title: t31, version: "1"}
paths:
  /pets/{id}:
    put:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - name: filter
          in: query
          content:
            application/json: {}
        - name: list
          in: query
          schema: {type: array}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [kind]
              properties:
                kind: {const: pet}
                tag: {type: [string, "null"]}
                size: {type: number, exclusiveMinimum: 0}
                pair:
                  type: array
                  prefixItems: [{type: string}, {type: integer}]
      responses: {"200": {description: ok}}
  /pets:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string, minLength: 2, maxLength: 3}
                tag: {type: [string, "null"]}
                legacy: {type: string, nullable: true}
      responses: {"201": {description: created}}
`

// TestOpenAPI31KeywordsAndPanicVectors covers 3.1 schemas (const, type arrays, numeric
// exclusiveMinimum, prefixItems) and the kin-openapi panic vectors: a
// content parameter without a schema and an array without items.
func TestOpenAPI31KeywordsAndPanicVectors(t *testing.T) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(v)(&echo{})
	tests := []struct {
		name   string
		q      req
		status int
		ptr    string
	}{
		{"ok", req{method: "PUT", target: "/pets/1", ct: jsonCT, body: `{"kind":"pet","tag":null,"size":1.5,"pair":["a",1]}`, noKey: true}, 200, ""},
		{"const", req{method: "PUT", target: "/pets/1", ct: jsonCT, body: `{"kind":"cat"}`, noKey: true}, 400, "/kind"},
		{"type array", req{method: "PUT", target: "/pets/1", ct: jsonCT, body: `{"kind":"pet","tag":3}`, noKey: true}, 400, "/tag"},
		{"exclusiveMinimum number", req{method: "PUT", target: "/pets/1", ct: jsonCT, body: `{"kind":"pet","size":0}`, noKey: true}, 400, "/size"},
		{"prefixItems", req{method: "PUT", target: "/pets/1", ct: jsonCT, body: `{"kind":"pet","pair":[1,"a"]}`, noKey: true}, 400, "/pair/0"},
		{"plain 3.1 schema", req{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"Tom","tag":null}`, noKey: true}, 200, ""},
		{"3.1 ignores nullable", req{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"Tom","legacy":null}`, noKey: true}, 400, "/legacy"},
		{"length counts code points", req{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"😀😀"}`, noKey: true}, 200, ""},
		{"length max", req{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"abcd"}`, noKey: true}, 400, "/name"},
		{"content param without schema", req{method: "PUT", target: "/pets/1?filter=not-json", ct: jsonCT, body: `{"kind":"pet"}`, noKey: true}, 400, ""},
		{"array without items", req{method: "PUT", target: "/pets/1?list=1&list=x", ct: jsonCT, body: `{"kind":"pet"}`, noKey: true}, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.q.build()) // must not panic
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.ptr == "" {
				return
			}
			p := decodeProblem(t, rec)
			for _, f := range p.Errors {
				if f.Pointer == tc.ptr {
					return
				}
			}
			t.Errorf("errors %+v lack pointer %q", p.Errors, tc.ptr)
		})
	}
}

func TestOpenAPI31CompiledSchemas(t *testing.T) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.find(req{method: "POST", target: "/pets", noKey: true}.build())
	if err != nil {
		t.Fatal(err)
	}
	media := m.op.body.Content.Get(jsonCT)
	fs := m.op.bodySchemas[media]
	if fs == nil {
		t.Fatal("plain 3.1 schema not compiled")
	}
	for body, want := range map[string]verdict{`{"name":"Tom","tag":null}`: valid, `{"name":"Tom","legacy":null}`: unsure, `{"name":"😀😀"}`: unsure} {
		val, _ := parseJSON([]byte(body), v.cfg.JSON)
		if got := fs.check(val); got != want {
			t.Errorf("check(%s) = %v, want %v", body, got, want)
		}
	}
}

// TestOpenAPI31NullableParameterCompilesNoValidator: a 3.1 parameter whose
// schema says "nullable" (no effect in 3.1) is validated by the 3.0
// visitor on a copy without it: a rejection compiles no JSON Schema
// validator per request, and the verdict is kin-openapi's.
func TestOpenAPI31NullableParameterCompilesNoValidator(t *testing.T) {
	v := mustLoad(t, `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /n:
    get:
      parameters:
        - {name: n, in: query, schema: {type: integer, minimum: 1, nullable: true}}
      responses: {"200": {description: ok}}
`, Config{})
	checkVerdicts(t, v, []verdictCase{
		{method: "GET", target: "/n?n=3", ok: true},
		{method: "GET", target: "/n?n=0", ok: false},
		{method: "GET", target: "/n?n=x", ok: false},
		{method: "GET", target: "/n", ok: true},
	})
	r := httptest.NewRequest("GET", "/n?n=0", nil)
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, nil) })
	if allocs > 150 {
		t.Errorf("%.0f allocations per rejected request, want <= 150 (no validator compiled per call)", allocs)
	}
}

// TestOpenAPI31NullableFormCompilesNoValidator: a 3.1 form body whose
// schema says "nullable" is validated by the 3.0 visitor on a copy without
// it, with the verdicts of the form rules.
func TestOpenAPI31NullableFormCompilesNoValidator(t *testing.T) {
	v := mustLoad(t, `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {required: [n], properties: {n: {type: integer, minimum: 1, nullable: true}, s: {type: string}}}
      responses: {"200": {description: ok}}
`, Config{})
	const form = "application/x-www-form-urlencoded"
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/f", ct: form, body: "n=3&s=x", ok: true},
		{method: "POST", target: "/f", ct: form, body: "n=0", ok: false},
		{method: "POST", target: "/f", ct: form, body: "s=x", ok: false},
	})
	body := []byte("n=0")
	r := httptest.NewRequest("POST", "/f", nil)
	r.Header.Set("Content-Type", form)
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, body) })
	if allocs > 250 {
		t.Errorf("%.0f allocations per rejected request, want <= 250 (no validator compiled per call)", allocs)
	}
}
