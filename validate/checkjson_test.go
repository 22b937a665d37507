package validate

import (
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const docCheckJSON = `openapi: 3.0.3
info: {title: checkjson, version: "1"}
paths: {}
components:
  schemas:
    Item:
      type: object
      required: [id, name]
      properties:
        id: {type: integer, format: int32, minimum: 1}
        name: {type: string, maxLength: 8}
        kind: {type: string, enum: [a, b]}
        price: {type: number, exclusiveMinimum: true, minimum: 0}
        tags: {type: array, items: {type: string}, maxItems: 2}
        note: {type: string, nullable: true}
        done: {type: boolean}
        meta: {type: object, additionalProperties: {type: integer}}
        secret: {type: string, readOnly: true}
    Closed:
      type: object
      properties: {a: {type: string}}
      additionalProperties: false
      minProperties: 1
    Unique:
      type: array
      items: {type: integer}
      uniqueItems: true
    Tags:
      type: array
      items: {type: string}
      uniqueItems: true
    Pet:
      type: object
      required: [petType]
      properties: {petType: {type: string}}
    Cat:
      allOf: [{$ref: "#/components/schemas/Pet"}, {type: object, properties: {hunts: {type: boolean}}}]
    Dog:
      allOf: [{$ref: "#/components/schemas/Pet"}, {type: object, required: [barks], properties: {barks: {type: boolean}}}]
    AnyPet:
      oneOf: [{$ref: "#/components/schemas/Cat"}, {$ref: "#/components/schemas/Dog"}]
      discriminator: {propertyName: petType}
    StringOrInt:
      oneOf: [{type: string}, {type: integer}]
    Either:
      anyOf: [{type: object, required: [a]}, {type: object, required: [b]}]
`

// compiledComponents compiles every component schema of v's document.
func compiledComponents(t testing.TB, v *Validator) ([]string, map[string]*compiledSchema) {
	t.Helper()
	var names []string
	for name := range v.doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	fc := &schemaCompiler{formats: formatValidators(), done: map[*openapi3.Schema]*compiledSchema{}, busy: map[*openapi3.Schema]bool{}}
	compiled := map[string]*compiledSchema{}
	for _, n := range names {
		if fs := fc.compile(v.doc.Components.Schemas[n].Value); fs != nil {
			compiled[n] = fs
		}
	}
	return names, compiled
}

// parsedValid is the full path: parseJSON, then compiledSchema.check.
func parsedValid(fs *compiledSchema, b []byte, lim JSONLimits) bool {
	val, err := parseJSON(b, lim)
	return err == nil && fs.check(val) == valid
}

// TestCheckJSONIsParseAndCheck: judging a body as it is parsed gives the
// full path's verdict on the bodies it judges, and is unsure about the
// rest (escaped or non-ASCII keys, uniqueItems, anything invalid).
func TestCheckJSONIsParseAndCheck(t *testing.T) {
	v := mustLoad(t, docCheckJSON, Config{})
	_, compiled := compiledComponents(t, v)
	lim := JSONLimits{MaxDepth: 3, MaxMembers: 4}.withDefaults()
	for _, tc := range []struct {
		schema, body string
		want         bool // checkJSON's answer
	}{
		{"Item", `{"id":1,"name":"x"}`, true},
		{"Item", ` { "id" : 7 , "name" : "abc\u00e9" , "kind" : "b" } `, true},
		{"Item", `{"id":1,"name":"x","price":0.5,"tags":["a","b"],"note":null}`, false}, // 5 members: over MaxMembers
		{"Item", `{"id":1,"name":"x","tags":["a","b"],"note":null}`, true},
		{"Item", `{"id":1,"name":"x","done":true,"meta":{"k":3}}`, true},
		{"Item", `{"id":1,"name":"x","extra":{"deep":[1,{"a":null}]}}`, false}, // deeper than MaxDepth
		{"Item", `{"id":1,"name":"x","extra":{"deep":[1,2]}}`, true},
		{"Item", `{"id":0,"name":"x"}`, false},
		{"Item", `{"id":1}`, false},
		{"Item", `{"id":1,"name":"toolongname"}`, false},
		{"Item", `{"id":1,"name":"x","kind":"c"}`, false},
		{"Item", `{"id":1,"name":"x","price":0}`, false},
		{"Item", `{"id":1,"name":"x","tags":["a","b","c"]}`, false},
		{"Item", `{"id":1,"name":"x","meta":{"k":"v"}}`, false},
		{"Item", `{"id":1,"name":"x","secret":"s"}`, false}, // readOnly: the full path decides
		{"Item", `{"id":1,"name":"x","id":2}`, false},
		{"Item", `{"id":1,"name":"x","ID":2}`, false},
		{"Item", `{"id":1,"name":"x","n\u0061me2":1}`, false}, // an escaped key
		{"Item", `{"id":1,"name":"\ud800"}`, false},
		{"Item", `{"id":1,"name":"x"} x`, false},
		{"Item", `{"id":1,"name":"x",}`, false},
		{"Item", `{"id":1e400,"name":"x"}`, false},
		{"Item", `{"id":99999999999,"name":"x"}`, false},
		{"Item", `{"id":1,"name":"x","note":null,"done":"yes"}`, false},
		{"Item", `null`, false},
		{"Item", `[]`, false},
		{"Closed", `{"a":"x"}`, true},
		{"Closed", `{}`, false},
		{"Closed", `{"a":"x","b":1}`, false},
		{"Unique", `[1,2]`, false}, // uniqueItems of numbers: the full path decides
		{"Unique", `[1]`, true},
		{"Tags", `["a","b","ab"]`, true},
		{"Tags", `["a","b","a"]`, false},
		{"Tags", `["a","\u0061"]`, false},
		{"Tags", `[]`, true},
		{"Cat", `{"petType":"Cat","hunts":true}`, true},
		{"Dog", `{"petType":"Dog"}`, false},
		{"AnyPet", `{"petType":"Cat","hunts":true}`, true},
		{"AnyPet", `{"barks":true,"petType":"Dog"}`, true},
		{"AnyPet", `{"petType":"Dog","hunts":true}`, false},
		{"AnyPet", `{"petType":"Bird"}`, false},
		{"AnyPet", `{"petType":1}`, false},
		{"AnyPet", `{"petType":"Cat","petType":"Cat"}`, false},
		{"StringOrInt", `"x"`, true},
		{"StringOrInt", `3`, true},
		{"StringOrInt", `3.5`, false},
		{"Either", `{"a":1}`, true},
		{"Either", `{"c":1}`, false},
	} {
		fs := compiled[tc.schema]
		if fs == nil {
			t.Fatalf("%s was not compiled", tc.schema)
		}
		got := fs.checkJSON([]byte(tc.body), lim)
		if got != tc.want {
			t.Errorf("%s %s: checkJSON = %v, want %v", tc.schema, tc.body, got, tc.want)
		}
		if got && !parsedValid(fs, []byte(tc.body), lim) {
			t.Errorf("%s %s: valid as parsed, not by parseJSON and check", tc.schema, tc.body)
		}
	}
}

// TestCheckJSONTakesValidShopBodies: the valid JSON bodies of the shop
// spec are judged as they are parsed, so the full path is the exception.
func TestCheckJSONTakesValidShopBodies(t *testing.T) {
	v := newShop(t, Config{})
	judged, bodies := 0, 0
	for _, tc := range shopCases() {
		if tc.status != 200 || tc.q.body == "" || !isJSON(mediaType(tc.q.ct)) {
			continue
		}
		m, err := v.find(tc.q.build())
		if err != nil || m.op == nil || m.op.body == nil {
			continue
		}
		fs := m.op.bodySchemas[m.op.body.Content.Get(tc.q.ct)]
		if fs == nil {
			continue
		}
		bodies++
		if fs.checkJSON([]byte(tc.q.body), v.cfg.JSON) {
			judged++
		} else if parsedValid(fs, []byte(tc.q.body), v.cfg.JSON) {
			t.Logf("%s/%s: left to the full path", tc.op, tc.name)
		}
	}
	if bodies < 12 || judged < bodies {
		t.Errorf("%d of %d valid bodies judged as parsed, want all, at least 12", judged, bodies)
	}
}

// FuzzCheckJSONAgreesWithCheck: a body judged valid as it is parsed is one
// parseJSON accepts and the compiled schema calls valid, for every schema
// of the shop spec and of docCheckJSON.
func FuzzCheckJSONAgreesWithCheck(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"name":"x"}`, `{"petType":"Cat","hunts":true}`, `{"a":"x"}`, `"x"`, `3`, `[1,2]`, `null`,
		`{"amount":1,"currency":"EUR"}`, `{"line1":"a","city":"b","country":"DE","postcode":"1234"}`,
		`{"method":"card","token":"tok_12345678","amount":{"amount":0,"currency":"USD"}}`,
		`{"customerId":1,"items":[{"productId":"` + pid + `","quantity":99}],"coupon":null}`,
	} {
		for i := range 4 {
			f.Add(uint8(i), []byte(s))
		}
	}
	var names []string
	compiled := map[string]*compiledSchema{}
	for _, v := range []*Validator{newShop(f, Config{}), mustLoad(f, docCheckJSON, Config{})} {
		ns, cs := compiledComponents(f, v)
		for _, n := range ns {
			if cs[n] != nil {
				names = append(names, n)
				compiled[n] = cs[n]
			}
		}
	}
	lim := JSONLimits{MaxDepth: 8, MaxMembers: 16}.withDefaults()
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		for off := range 3 {
			name := names[(int(which)+off)%len(names)]
			if compiled[name].checkJSON(b, lim) && !parsedValid(compiled[name], b, lim) {
				t.Fatalf("%s: %q valid as parsed, not by parseJSON and check", name, b)
			}
		}
	})
}

// BenchmarkCheckJSON compares judging a small body as it is parsed with
// parsing it into maps and then checking them.
func BenchmarkCheckJSON(b *testing.B) {
	v := mustLoad(b, docCheckJSON, Config{})
	_, compiled := compiledComponents(b, v)
	fs := compiled["Item"]
	body := []byte(`{"id":7,"name":"abc","kind":"b","price":12.5,"tags":["x","y"],"done":true,"meta":{"k":3}}`)
	lim := v.cfg.JSON
	b.Run("as-parsed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !fs.checkJSON(body, lim) {
				b.Fatal("not valid")
			}
		}
	})
	b.Run("parse-then-check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !parsedValid(fs, body, lim) {
				b.Fatal("not valid")
			}
		}
	})
}
