package validate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

const spec31Keywords2020 = `openapi: 3.1.0
info: {title: strict, version: "1"}
paths:
  /shapes:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Shape"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Shape:
      type: object
      required: [kind]
      properties:
        kind: {enum: [circle, square]}
        size: {$ref: "#/components/schemas/Size"}
        at: {type: array, prefixItems: [{type: number}, {type: number}], items: false}
        email: {type: string, format: email}
      if: {properties: {kind: {const: circle}}}
      then: {required: [size]}
      unevaluatedProperties: false
    Size: {type: number, exclusiveMinimum: 0}
`

// TestOpenAPI31KeywordRejectionsAgreeWithKin: bodies against a 3.1 schema with 2020-12 keywords
// and component $refs are rejected by the validator compiled at load, with
// exactly kin-openapi's verdict, and a rejection costs no per-call
// compilation.
func TestOpenAPI31KeywordRejectionsAgreeWithKin(t *testing.T) {
	v, err := Load([]byte(spec31Keywords2020), Config{})
	if err != nil {
		t.Fatal(err)
	}
	op := v.ops.root.static["shapes"].entry.methods["POST"]
	media := op.body.Content.Get(jsonCT)
	if op.body2020[media] == nil {
		t.Fatal("no compiled 2020-12 validator for POST /shapes")
	}
	for _, body := range []string{
		`{"kind":"circle","size":2}`, `{"kind":"circle"}`, `{"kind":"square"}`, `{"kind":"circle","size":0}`,
		`{"kind":"square","at":[1,2]}`, `{"kind":"square","at":[1,2,3]}`, `{"kind":"square","at":["a"]}`,
		`{"kind":"square","extra":1}`, `{"kind":"triangle"}`, `{}`, `[]`, `{"kind":"square","email":"a@b.example"}`,
		`{"kind":"square","email":"nope"}`, `{"kind":"circle","size":"big"}`,
	} {
		val, err := parseJSON([]byte(body), JSONLimits{}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		want := media.Schema.Value.VisitJSON(val, append(v.bodyOpts, openapi3.EnableJSONSchema2020())...) == nil
		_, err = v.ValidateRequest(req{method: "POST", target: "/shapes", ct: jsonCT, noKey: true}.build(), []byte(body))
		if got := err == nil; got != want {
			t.Errorf("%s: accepted %v, kin-openapi (2020-12) %v (%v)", body, got, want, err)
		}
	}
	r := req{method: "POST", target: "/shapes", ct: jsonCT, noKey: true}.build()
	body := []byte(`{"kind":"circle","at":[1,2,3],"extra":true}`)
	if _, err := v.ValidateRequest(r, body); err == nil {
		t.Fatal("accepted")
	}
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, body) })
	t.Logf("%.0f allocations per rejected request", allocs)
	if allocs > 300 {
		t.Errorf("%.0f allocations per rejected request, want <= 300", allocs)
	}
}

// FuzzOpenAPI31Keywords2020AgreeWithKin: for any JSON body, the validator compiled at load
// rejects only what kin-openapi's 2020-12 path rejects, and the engine's
// verdict is kin-openapi's.
func FuzzOpenAPI31Keywords2020AgreeWithKin(f *testing.F) {
	for _, s := range []string{
		`{"kind":"circle","size":2}`, `{"kind":"circle"}`, `{"kind":"square","at":[1,2,3]}`,
		`{"kind":"square","extra":1}`, `{"kind":"square","email":"nope"}`, `{"kind":"circle","size":"big"}`,
	} {
		f.Add([]byte(s))
	}
	v, err := Load([]byte(spec31Keywords2020), Config{})
	if err != nil {
		f.Fatal(err)
	}
	op := v.ops.root.static["shapes"].entry.methods["POST"]
	media := op.body.Content.Get(jsonCT)
	opts := append(v.bodyOpts, openapi3.EnableJSONSchema2020())
	f.Fuzz(func(t *testing.T, body []byte) {
		val, err := parseJSON(body, JSONLimits{MaxDepth: 16, MaxMembers: 64}.withDefaults())
		if err != nil {
			return
		}
		kinOK := media.Schema.Value.VisitJSON(val, opts...) == nil
		if reject2020(op.body2020[media], val, &collector{max: 20}) && kinOK {
			t.Fatalf("%s: rejected by the compiled validator, accepted by kin-openapi", body)
		}
		_, err = v.ValidateRequest(req{method: "POST", target: "/shapes", ct: jsonCT, noKey: true}.build(), body)
		if (err == nil) != kinOK {
			t.Fatalf("%s: accepted %v, kin-openapi %v (%v)", body, err == nil, kinOK, err)
		}
	})
}

// TestOpenAPI31ParametersWith2020Keywords: a 3.1 parameter whose schema
// uses 2020-12 keywords is judged by a validator compiled at load, with
// kin-openapi's verdict, and a rejection compiles nothing per request.
func TestOpenAPI31ParametersWith2020Keywords(t *testing.T) {
	const doc = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /p/{kind}:
    get:
      parameters:
        - {name: kind, in: path, required: true, schema: {type: string, const: cat}}
        - {name: ids, in: query, explode: false, schema: {type: array, items: {type: integer}, contains: {const: 7}}}
        - {name: n, in: query, schema: {type: integer, exclusiveMinimum: 0, const: 5}}
      responses: {"200": {description: ok}}
`
	v := mustLoad(t, doc, Config{})
	op := v.ops.root.static["p"].params[0].next.entry.methods["GET"]
	for _, p := range op.params {
		if p.v2020 == nil {
			t.Fatalf("parameter %s has no validator compiled at load", p.Name)
		}
	}
	for _, target := range []string{
		"/p/cat", "/p/dog", "/p/cat?ids=1,7", "/p/cat?ids=1,2", "/p/cat?ids=1,x", "/p/cat?ids=1.0,7",
		"/p/cat?n=5", "/p/cat?n=1", "/p/cat?n=0", "/p/cat?n=x", "/p/cat?n=5.0", "/p/cat?n=5e0",
	} {
		_, got := v.ValidateRequest(httptest.NewRequest("GET", target, nil), nil)
		want := kin31(v, httptest.NewRequest("GET", target, nil), nil)
		if (got == nil) != (want == nil) {
			t.Errorf("GET %s: accepted %v, kin-openapi %v (%v / %v)", target, got == nil, want == nil, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/p/dog?n=1", nil)
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, nil) })
	if allocs > 150 {
		t.Errorf("%.0f allocations per rejected request, want <= 150 (no validator compiled per call)", allocs)
	}
}

// TestOpenAPI31FormsWith2020Keywords: a 3.1 form body whose schema uses
// 2020-12 keywords is judged by a validator compiled at load, with
// kin-openapi's verdict, and a rejection compiles nothing per request.
func TestOpenAPI31FormsWith2020Keywords(t *testing.T) {
	const doc = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, required: [kind], properties: {kind: {type: string, const: cat}, n: {type: integer, exclusiveMinimum: 0}}}
      responses: {"200": {description: ok}}
`
	v := mustLoad(t, doc, Config{})
	if len(v.ops.root.static["f"].entry.methods["POST"].decoded2020) != 1 {
		t.Fatal("the form has no validator compiled at load")
	}
	const form = "application/x-www-form-urlencoded"
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/f", ct: form, body: "kind=cat", ok: true},
		{method: "POST", target: "/f", ct: form, body: "kind=dog", ok: false},
		{method: "POST", target: "/f", ct: form, body: "kind=cat&n=3", ok: true},
		{method: "POST", target: "/f", ct: form, body: "kind=cat&n=0", ok: false},
		{method: "POST", target: "/f", ct: form, body: "kind=cat&n=x", ok: false},
		{method: "POST", target: "/f", ct: form, body: "n=3", ok: false},
		{method: "POST", target: "/f", ct: form, body: "", ok: true},
	})
	r := httptest.NewRequest("POST", "/f", nil)
	r.Header.Set("Content-Type", form)
	body := []byte("kind=dog")
	allocs := testing.AllocsPerRun(20, func() { _, _ = v.ValidateRequest(r, body) })
	if allocs > 200 {
		t.Errorf("%.0f allocations per rejected request, want <= 200 (no validator compiled per call)", allocs)
	}
}

// kin31 is kin-openapi's own verdict on r for a 3.1 document: its request
// validation on the operation's 3.1 route, which compiles a JSON Schema
// 2020-12 validator per call. It is the reference the 3.1 tests compare
// against.
func kin31(v *Validator, r *http.Request, body []byte) error {
	m, err := v.find(r)
	if err != nil {
		return err
	}
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: m.pathParams.asMap(), Route: m.op.route,
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, SchemaValidationOptions: formatOptions(), AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// TestUncompilableSchemaRefusesOrSkipsItsOperation: a 3.1 schema that no
// JSON Schema 2020-12 validator can be compiled from (here a $dynamicRef to
// no anchor) refuses the document with the operation's pointer, instead of
// leaving kin-openapi to try compiling it on every request; with
// SkipBrokenOperations only that operation is skipped.
func TestUncompilableSchemaRefusesOrSkipsItsOperation(t *testing.T) {
	const doc = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /broken:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {x: {$dynamicRef: "#missing"}}, const: {}}
      responses: {"200": {description: ok}}
  /fine:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {x: {const: 1}}}
      responses: {"200": {description: ok}}
`
	_, err := Load([]byte(doc), Config{})
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].Pointer != "/paths/~1broken/post" {
		t.Fatalf("Load = %v, want one problem at /paths/~1broken/post", err)
	}
	v := mustLoad(t, doc, Config{SkipBrokenOperations: true})
	if s := v.Skipped(); len(s) != 1 || s[0].Pointer != "/paths/~1broken/post" {
		t.Errorf("Skipped() = %v, want the broken operation", s)
	}
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/broken", ct: jsonCT, body: `{"x":2}`, ok: true}, // skipped: passed unvalidated
		{method: "POST", target: "/fine", ct: jsonCT, body: `{"x":1}`, ok: true},
		{method: "POST", target: "/fine", ct: jsonCT, body: `{"x":2}`, ok: false},
	})
}
