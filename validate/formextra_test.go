package validate

import (
	"net/http/httptest"
	"strings"
	"testing"
)

const specFormExtras = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /closed:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties:
                a: {type: string}
                obj: {type: object, properties: {k: {type: string}}}
              additionalProperties: false
            encoding:
              obj: {style: deepObject, explode: true}
      responses: {"200": {description: ok}}
  /small:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {a: {type: string}}, additionalProperties: {type: integer, maximum: 5}}
      responses: {"200": {description: ok}}
  /list:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {a: {type: string}}, additionalProperties: {type: array, items: {type: integer}}}
      responses: {"200": {description: ok}}
  /open:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {a: {type: string}}}
      responses: {"200": {description: ok}}
`

const specFormLiteralBrackets = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {"a[b]": {type: string}}, additionalProperties: false}
      responses: {"200": {description: ok}}
`

const specFormDeep = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /d:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              additionalProperties: false
              properties:
                d: {type: object, properties: {x: {type: integer}}, additionalProperties: false}
                w: {allOf: [{type: object, properties: {x: {type: integer}}}]}
                e: {type: object, properties: {x: {type: integer}}}
                a2: {allOf: [{type: object, properties: {x: {type: integer, maximum: 5}}}, {type: object, properties: {y: {type: string}}}]}
                any: {anyOf: [{type: object, properties: {x: {type: string}}}, {type: object, properties: {y: {type: integer, maximum: 5}}}]}
                one: {oneOf: [{type: object, properties: {x: {type: integer, maximum: 5}}}, {type: object, properties: {y: {type: string}}}]}
                nest: {type: object, properties: {x: {type: object, allOf: [{properties: {z: {type: integer, maximum: 5}}}]}}}
                tall: {type: object, properties: {p: {type: string}}, allOf: [{properties: {z: {type: integer, maximum: 5}}}]}
                arr: {type: object, properties: {l: {type: array, items: {type: integer}}}}
                free: {type: object, properties: {p: {type: string}}, additionalProperties: true}
            encoding:
              d: {style: deepObject, explode: true}
              w: {style: deepObject, explode: true}
              e: {style: form, explode: false}
              a2: {style: deepObject, explode: true}
              any: {style: deepObject, explode: true}
              one: {style: deepObject, explode: true}
              nest: {style: deepObject, explode: true}
              tall: {style: deepObject, explode: true}
              arr: {style: deepObject, explode: true}
              free: {style: deepObject, explode: true}
      responses: {"200": {description: ok}}
`

const specFormExtras31 = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /const:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {a: {type: string}}, additionalProperties: {const: "yes"}}
      responses: {"200": {description: ok}}
`

// TestFormFieldsOutsideProperties: an urlencoded field the schema's
// properties do not declare (kin-openapi drops it) is judged by
// additionalProperties: false refuses it, a schema validates it (one
// value, or the repeated values of an array schema), absent lets it
// through; the keys of a deepObject-encoded property are not additional.
func TestFormFieldsOutsideProperties(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		spec, target, body string
		pointer, reason    string // pointer "": accepted
	}{
		{specFormExtras, "/closed", "a=1", "", ""},
		{specFormExtras, "/closed", "a=1&obj[k]=v", "", ""},
		{specFormExtras, "/closed", "a=1&x=2", "/x", `property "x" is not allowed`},
		{specFormExtras, "/closed", "a=1&x%2Fy=2", "/x~1y", "a property is not allowed here"},
		// a is a string: a[x] is not part of it (kin-openapi does not decode it),
		// but an undeclared field a backend may read as a's member x.
		{specFormExtras, "/closed", "a[x]=evil", "/a[x]", "a property is not allowed here"},
		{specFormExtras, "/small", "a[x]=abc", "/a[x]", "must be of type integer"},
		{specFormLiteralBrackets, "/f", "a[b]=x", "", ""}, // a property named "a[b]"
		// deepObject keys as kin-openapi's decoder keeps them, and no others.
		{specFormDeep, "/d", "d[x]=1&w[x]=2", "", ""},
		{specFormDeep, "/d", "d[x]=1&d[y]=evil", "/d[y]", "a property is not allowed here"},
		{specFormDeep, "/d", "d[x]=1&d[=evil", "/d[", "a property is not allowed here"},
		{specFormDeep, "/d", "d[x]=1&d[x]junk=evil", "/d[x]junk", "a property is not allowed here"},
		{specFormDeep, "/d", "e=x,1&e[x]=evil", "/e[x]", "a property is not allowed here"},
		// Where kin-openapi keeps one member's value, or none, a key is not taken as declared.
		{specFormDeep, "/d", "a2[x]=99", "/a2[x]", "a property is not allowed here"},
		{specFormDeep, "/d", "any[y]=abc", "/any[y]", "a property is not allowed here"},
		{specFormDeep, "/d", "one[x]=abc", "/one[x]", "a property is not allowed here"},
		{specFormDeep, "/d", "nest[x][z]=abc", "/nest[x][z]", "a property is not allowed here"},
		{specFormDeep, "/d", "tall[z]=abc", "/tall[z]", "a property is not allowed here"},
		// Indexed arrays and additionalProperties: true are decoded by kin-openapi.
		{specFormDeep, "/d", "arr[l][0]=1&arr[l][1]=2", "", ""},
		{specFormDeep, "/d", "free[q][r]=1", "", ""},
		{specFormExtras, "/small", "a=s&x=3", "", ""},
		{specFormExtras, "/small", "a=s&x=9", "/x", "number must be at most 5"},
		{specFormExtras, "/small", "x=abc", "/x", "must be of type integer"},
		{specFormExtras, "/small", "x=1&x=2", "/x", reasonRepeated},
		{specFormExtras, "/list", "x=1&x=2", "", ""},
		{specFormExtras, "/list", "x=1&x=b", "/x", "must be of type integer"},
		{specFormExtras, "/open", "a=1&anything=goes", "", ""},
		{specFormExtras31, "/const", "a=1&x=yes", "", ""},
		{specFormExtras31, "/const", "a=1&x=no", "/x", "must be the constant value of the schema"},
	}
	for _, tc := range cases {
		v := mustLoad(t, tc.spec, Config{})
		r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", form)
		_, err := v.ValidateRequest(r, []byte(tc.body))
		if tc.pointer == "" {
			if err != nil {
				t.Errorf("POST %s %s: rejected: %v %s", tc.target, tc.body, err, fieldsOf(err))
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || len(e.Fields) != 1 || e.Fields[0].In != "body" || e.Fields[0].Pointer != tc.pointer || e.Fields[0].Reason != tc.reason {
			t.Errorf("POST %s %s: %v %s, want body %s: %s", tc.target, tc.body, err, fieldsOf(err), tc.pointer, tc.reason)
		}
	}
}

// BenchmarkFormFieldsOutsideProperties measures a valid urlencoded body
// with a field judged by additionalProperties.
func BenchmarkFormFieldsOutsideProperties(b *testing.B) {
	v := mustLoad(b, specFormExtras, Config{})
	body := []byte("a=s&x=3")
	r := httptest.NewRequest("POST", "/small", nil)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.ValidateRequest(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
