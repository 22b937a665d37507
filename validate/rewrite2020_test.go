package validate

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const docRewrite = `openapi: 3.1.0
info: {title: rewrite, version: "1"}
paths:
  /pets:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Envelope"}
      responses: {"200": {description: ok}}
  /inline:
    post:
      requestBody:
        content:
          application/json:
            schema:
              propertyNames: {minLength: 1}
              oneOf: [{$ref: "#/components/schemas/Cat"}, {type: object, required: [kind], properties: {kind: {const: fish}}}]
              discriminator: {propertyName: kind}
      responses: {"200": {description: ok}}
  /tree:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Tree"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Envelope:
      type: object
      required: [id, pet]
      unevaluatedProperties: false
      properties:
        id: {type: string, readOnly: true}
        stamp: {$ref: "#/components/schemas/Stamp"}
        pet:
          oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
          discriminator: {propertyName: kind, mapping: {kitty: "#/components/schemas/Cat"}}
    Stamp: {type: string, readOnly: true}
    Cat: {type: object, required: [kind], properties: {kind: {type: string}, hunts: {type: boolean}}}
    Dog: {type: object, required: [kind, barks], properties: {kind: {type: string}, barks: {type: boolean}}}
    Tree:
      $recursiveAnchor: true
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$recursiveRef: "#"}}
`

// TestRewrite2020MatchesOpenAPI: a 3.1 body validated by the JSON Schema
// validator compiled at load gets OpenAPI's verdict on readOnly
// properties, discriminators (mapped, implied, with an inline branch) and
// $recursiveRef, without kin-openapi.
func TestRewrite2020MatchesOpenAPI(t *testing.T) {
	v := mustLoad(t, docRewrite, Config{})
	for _, p := range []string{"pets", "inline", "tree"} {
		op := v.ops.root.static[p].entry.methods["POST"]
		if op.body2020[op.body.Content.Get(jsonCT)] == nil {
			t.Fatalf("POST /%s has no compiled 2020-12 validator", p)
		}
	}
	const ct = "application/json"
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"kind":"kitty","barks":true}}`, ok: true},
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"kind":"Dog","barks":true}}`, ok: true},
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"kind":"Dog"}}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"kind":"Cat"}}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"hunts":true}}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"id":"x","pet":{"kind":"kitty"}}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"stamp":"x","pet":{"kind":"kitty"}}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"pet":{"kind":"kitty"},"extra":1}`, ok: false},
		{method: "POST", target: "/tree", ct: ct, body: `{"name":"a","children":[{"name":"b","children":[]}]}`, ok: true},
		{method: "POST", target: "/tree", ct: ct, body: `{"name":"a","children":[{"name":5}]}`, ok: false},
	})
	// kin-openapi's own 3.1 path ignores discriminators and readOnly (its
	// OpenAPI 3.0 visitor applies them); elsewhere the verdict is its own.
	opts := append(v.bodyOpts, openapi3.EnableJSONSchema2020())
	for _, tc := range []struct{ path, body string }{
		{"pets", `{"pet":{"kind":"Dog","barks":1}}`},
		{"inline", `{"kind":"fish"}`},
		{"inline", `{"kind":"Cat"}`},
		{"inline", `{"kind":5}`},
		{"inline", `{}`},
		{"inline", `"fish"`},
	} {
		op := v.ops.root.static[tc.path].entry.methods["POST"]
		val, err := parseJSON([]byte(tc.body), JSONLimits{}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		want := op.body.Content.Get(jsonCT).Schema.Value.VisitJSON(val, opts...) == nil
		_, err = v.ValidateRequest(req{method: "POST", target: "/" + tc.path, ct: jsonCT, noKey: true}.build(), []byte(tc.body))
		if got := err == nil; got != want {
			t.Errorf("POST /%s %s accepted = %v, kin-openapi %v (%v)", tc.path, tc.body, got, want, err)
		}
	}
}
