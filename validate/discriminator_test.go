package validate

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const docPets = `openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
              discriminator: {propertyName: petType}
      responses: {"200": {description: ok}}
  /mapped:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
              discriminator: {propertyName: petType, mapping: {kitty: Cat}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Pet:
      type: object
      required: [petType]
      properties: {petType: {type: string}, name: {type: string}}
    Cat:
      allOf: [{$ref: "#/components/schemas/Pet"}, {type: object, properties: {hunts: {type: boolean}}}]
    Dog:
      allOf: [{$ref: "#/components/schemas/Pet"}, {type: object, required: [barks], properties: {barks: {type: boolean}}}]
`

// TestDiscriminatorImpliedMapping: without a mapping, the discriminator
// value names the schema to validate against (OpenAPI's implied mapping):
// a Dog that also matches Cat's schema is accepted, and a body that says
// Dog but only matches Cat is rejected.
func TestDiscriminatorImpliedMapping(t *testing.T) {
	v := mustLoad(t, docPets, Config{})
	const ct = "application/json"
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/pets", ct: ct, body: `{"petType":"Cat","name":"x"}`, ok: true},
		{method: "POST", target: "/pets", ct: ct, body: `{"petType":"Dog","barks":true}`, ok: true},
		{method: "POST", target: "/pets", ct: ct, body: `{"petType":"Dog","name":"x"}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"petType":"Cat","hunts":"x","barks":true}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"petType":"Bird"}`, ok: false},
		{method: "POST", target: "/pets", ct: ct, body: `{"name":"x"}`, ok: false},
		// An explicit mapping selects by its key; the other branch keeps its implied name.
		{method: "POST", target: "/mapped", ct: ct, body: `{"petType":"kitty","name":"x"}`, ok: true},
		{method: "POST", target: "/mapped", ct: ct, body: `{"petType":"Dog","barks":true}`, ok: true},
		{method: "POST", target: "/mapped", ct: ct, body: `{"petType":"Cat","name":"x"}`, ok: false},
	})
}

const docBaseDiscriminator = `openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /cats:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Cat"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Pet:
      type: object
      required: [petType]
      properties: {petType: {type: string}}
      discriminator: {propertyName: petType}
    Cat:
      allOf: [{$ref: "#/components/schemas/Pet"}, {type: object, properties: {hunts: {type: boolean}}}]
`

// TestDiscriminatorOnBaseSchemaCompiled: a discriminator on a base schema
// without oneOf or anyOf (Pet, extended by Cat through allOf), which
// kin-openapi ignores, does not keep the bodies using it off the compiled
// path, and the compiled verdicts are kin-openapi's.
func TestDiscriminatorOnBaseSchemaCompiled(t *testing.T) {
	v := mustLoad(t, docBaseDiscriminator, Config{})
	op := v.ops.root.static["cats"].entry.methods["POST"]
	media := op.body.Content.Get("application/json")
	fs := op.bodySchemas[media]
	if fs == nil {
		t.Fatal("the body schema was not compiled")
	}
	for _, tc := range []struct {
		body  string
		valid bool
	}{
		{`{"petType":"Cat"}`, true},
		{`{"petType":"Dog","hunts":true}`, true}, // no oneOf: the value selects nothing
		{`{"hunts":true}`, false},
		{`{"petType":"Cat","hunts":"x"}`, false},
	} {
		val, err := parseJSON([]byte(tc.body), v.cfg.JSON)
		if err != nil {
			t.Fatal(err)
		}
		kinErr := media.Schema.Value.VisitJSON(val, append(v.bodyOpts, openapi3.MultiErrors())...)
		if got := fs.check(val) == valid; got != tc.valid || got != (kinErr == nil) {
			t.Errorf("%s: compiled valid = %v, kin-openapi error %v, want valid = %v", tc.body, got, kinErr, tc.valid)
		}
	}
}

const docAmbiguousDiscriminators = `openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /twice:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Cat"}]
              discriminator: {propertyName: petType}
      responses: {"200": {description: ok}}
  /empty:
    post:
      requestBody:
        content:
          application/json:
            schema:
              oneOf: [{$ref: "#/components/schemas/Cat"}, {type: object}]
              discriminator: {propertyName: petType, mapping: {x: ""}}
      responses: {"200": {description: ok}}
components:
  schemas:
    Cat:
      type: object
      required: [petType]
      properties: {petType: {type: string}}
`

// TestAmbiguousDiscriminatorsLeftToKin: a discriminator whose value would
// select two branches (the same reference listed twice, or a mapping to
// an empty reference, with which kin-openapi tries every branch) is not
// compiled: the body matches two branches of the oneOf and is rejected,
// as kin-openapi rejects it.
func TestAmbiguousDiscriminatorsLeftToKin(t *testing.T) {
	v := mustLoad(t, docAmbiguousDiscriminators, Config{})
	for _, tc := range []struct{ path, body string }{
		{"twice", `{"petType":"Cat"}`},
		{"empty", `{"petType":"x"}`},
	} {
		op := v.ops.root.static[tc.path].entry.methods["POST"]
		if fs := op.bodySchemas[op.body.Content.Get(jsonCT)]; fs != nil {
			t.Errorf("/%s: the ambiguous discriminator was compiled", tc.path)
		}
		checkVerdicts(t, v, []verdictCase{{method: "POST", target: "/" + tc.path, ct: jsonCT, body: tc.body, ok: false}})
	}
}
