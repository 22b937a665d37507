package validate

import (
	"strings"

	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestCompiledSchemasAcceptOnlyWhatKinAccepts checks, for every table
// case, that the compiled schemas answer "valid" only where kin-openapi
// accepts, and that they do take the valid cases of the shop spec (so
// benchmarks measure them).
func TestCompiledSchemasAcceptOnlyWhatKinAccepts(t *testing.T) {
	v := newShop(t, Config{})
	ref := newKinRef(t, false)
	compiledParams, compiledBodies := 0, 0
	for _, tc := range shopCases() {
		r := tc.q.build()
		m, err := v.find(r)
		if err != nil || m.op == nil {
			continue
		}
		q := &query{raw: r.URL.RawQuery}
		allFast := true
		for i := range m.op.params {
			fp := m.op.params[i].compiled
			if fp == nil {
				allFast = false
				continue
			}
			if fp.check(r, m.pathParams, q) == valid {
				compiledParams++
				continue
			}
			allFast = false
			if tc.status == 200 {
				t.Errorf("%s/%s: compiled schema unsure about valid parameter %s", tc.op, tc.name, m.op.params[i].Name)
			}
		}
		bodyFast := tc.q.body == ""
		if tc.q.body != "" && isJSON(mediaType(tc.q.ct)) && m.op.body != nil {
			bodyFast = false
			if media := m.op.body.Content.Get(tc.q.ct); media != nil {
				if fs := m.op.bodySchemas[media]; fs != nil {
					if val, err := parseJSON([]byte(tc.q.body), v.cfg.JSON); err == nil && fs.check(val) == valid {
						bodyFast = true
						compiledBodies++
					} else if tc.status == 200 {
						t.Errorf("%s/%s: compiled schema unsure about a valid body", tc.op, tc.name)
					}
				}
			}
		}
		basePath := strings.HasPrefix(tc.q.target, "/v1/") || strings.HasPrefix(tc.q.target, "/api/")
		missingBody := tc.q.body == "" && m.op.body != nil && m.op.body.Required
		if allFast && bodyFast && !basePath && !missingBody {
			if err := ref.validate(tc.q.build(), []byte(tc.q.body)); err != nil && tc.status != 401 && tc.status != 403 && tc.status != 415 {
				// Only schema verdicts are compared: compiled schemas do not judge security or media types.
				t.Errorf("%s/%s: compiled schemas say valid, kin-openapi rejects: %v", tc.op, tc.name, err)
			}
		}
	}
	if compiledParams < 40 || compiledBodies < 15 {
		t.Errorf("compiled schemas took %d parameters and %d bodies, want at least 40 and 15", compiledParams, compiledBodies)
	}
}

// FuzzCompiledSchemaAgreesWithKin: for every component schema of the shop spec, a value the
// compiled schemas call valid is accepted by kin-openapi's visitor.
func FuzzCompiledSchemaAgreesWithKin(f *testing.F) {
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
	names, compiled := compiledComponents(f, v)
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
				t.Fatalf("compiled schema accepts %s for %s, kin-openapi rejects it: %v", b, name, err)
			}
		}
	})
}

// TestCompiledSchemaReadOnlyProperties: a schema with readOnly properties
// is compiled; a body without them is valid on the compiled path, one that
// sends them is left to kin-openapi, which rejects it in a request body.
func TestCompiledSchemaReadOnlyProperties(t *testing.T) {
	v := mustLoad(t, `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
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
                id: {type: integer, readOnly: true}
                name: {type: string}
                secret: {type: string, writeOnly: true}
      responses: {"200": {description: ok}}
`, Config{})
	media := v.ops.root.static["pets"].entry.methods["POST"].body.Content.Get(jsonCT)
	fs := v.ops.root.static["pets"].entry.methods["POST"].bodySchemas[media]
	if fs == nil {
		t.Fatal("a schema with readOnly and writeOnly properties was not compiled")
	}
	cases := []struct {
		body string
		want verdict
	}{
		{`{"name":"x"}`, valid},
		{`{"name":"x","secret":"s"}`, valid},
		{`{"name":"x","id":1}`, unsure},
		{`{"name":"x","id":null}`, unsure},
	}
	for _, tc := range cases {
		val, err := parseJSON([]byte(tc.body), v.cfg.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if got := fs.check(val); got != tc.want {
			t.Errorf("check(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"x"}`, ok: true},
		{method: "POST", target: "/pets", ct: jsonCT, body: `{"name":"x","id":1}`, ok: false},
	})
}

// TestCompiledEnumsOfNumbersAndBooleans: enums of numbers and booleans are
// compiled, and a value they call valid is one kin-openapi accepts.
func TestCompiledEnumsOfNumbersAndBooleans(t *testing.T) {
	cases := []struct {
		schema, value string
		want          verdict
	}{
		{`{"type":"integer","enum":[0,1,2]}`, `1`, valid},
		{`{"type":"integer","enum":[0,1,2]}`, `1.0`, unsure},
		{`{"type":"integer","enum":[0,1,2]}`, `3`, unsure},
		{`{"type":"number","enum":[0.5,2]}`, `0.5`, valid},
		{`{"type":"number","enum":[0.5,2]}`, `2e0`, valid},
		{`{"enum":[true,false]}`, `false`, valid},
		{`{"enum":[true]}`, `false`, unsure},
		{`{"enum":[1,"a",true]}`, `"a"`, valid},
		{`{"enum":[1,"a",true]}`, `"b"`, unsure},
		{`{"enum":[1,"a",true]}`, `1`, valid},
	}
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.MultiErrors()}
	for _, tc := range cases {
		var s openapi3.Schema
		if err := s.UnmarshalJSON([]byte(tc.schema)); err != nil {
			t.Fatal(err)
		}
		fc := &schemaCompiler{formats: formatValidators(), done: map[*openapi3.Schema]*compiledSchema{}, busy: map[*openapi3.Schema]bool{}}
		f := fc.compile(&s)
		if f == nil {
			t.Fatalf("%s: not compiled", tc.schema)
		}
		val, err := parseJSON([]byte(tc.value), JSONLimits{}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		got := f.check(val)
		if got != tc.want {
			t.Errorf("%s: check(%s) = %v, want %v", tc.schema, tc.value, got, tc.want)
		}
		if got == valid {
			if err := s.VisitJSON(val, opts...); err != nil {
				t.Errorf("%s: check(%s) is valid, kin-openapi rejects: %v", tc.schema, tc.value, err)
			}
		}
	}
}
