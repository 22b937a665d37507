package validate

import (
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
)

const docObjectParams = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /o:
    get:
      parameters:
        - {name: q, in: query, style: form, explode: true, schema: {type: object, properties: {a: {type: integer}}, additionalProperties: false}}
        - {name: f, in: query, style: form, explode: false, schema: {type: object, properties: {b: {type: string}}}}
        - {name: X-Obj, in: header, schema: {type: object, properties: {r: {type: integer}}, required: [r]}}
        - {name: X-Req, in: header, required: true, schema: {type: object, properties: {r: {type: integer}}}}
        - {name: X-One, in: header, schema: {type: object, oneOf: [{required: [r]}, {required: [s]}]}}
        - {name: c, in: cookie, schema: {type: object, properties: {n: {type: integer}}}}
        - {name: ce, in: cookie, explode: true, schema: {type: object, properties: {n: {type: integer}}}}
      responses: {"200": {description: ok}}
`

// TestAbsenceOfObjectParameters: optional parameters kin-openapi decodes
// (exploded and unexploded query objects, header and cookie objects) are
// seen absent only where kin-openapi finds nothing: a query with no pairs,
// no line of the header, no cookie of the name. Required parameters and
// objects with oneOf are always left to kin-openapi, which accepts every
// request seen absent here.
func TestAbsenceOfObjectParameters(t *testing.T) {
	v := mustLoad(t, docObjectParams, Config{})
	cases := []struct {
		name, target, header, cookie string
		absent                       map[string]bool // by parameter name; missing: not absent
	}{
		{"nothing sent", "/o", "", "", map[string]bool{"q": true, "f": true, "X-Obj": true, "c": true, "ce": true}},
		{"empty query", "/o?", "", "", map[string]bool{"q": true, "f": true, "X-Obj": true, "c": true, "ce": true}},
		{"a query pair", "/o?a=1", "", "", map[string]bool{"X-Obj": true, "c": true, "ce": true}},
		{"an unrelated query pair", "/o?zz", "", "", map[string]bool{"X-Obj": true, "c": true, "ce": true}},
		{"the header", "/o", "r,1", "", map[string]bool{"q": true, "f": true, "c": true, "ce": true}},
		{"the header empty", "/o", "-", "", map[string]bool{"q": true, "f": true, "c": true, "ce": true}},
		{"the cookie", "/o", "", "c=n,1", map[string]bool{"q": true, "f": true, "X-Obj": true, "ce": true}},
		{"another cookie", "/o", "", "d=1", map[string]bool{"q": true, "f": true, "X-Obj": true, "c": true, "ce": true}},
		{"the cookie spaced", "/o", "", " c =n,1", map[string]bool{"q": true, "f": true, "X-Obj": true, "ce": true}},
		{"both cookies", "/o", "", "c=n,1; ce=n=1", map[string]bool{"q": true, "f": true, "X-Obj": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			switch tc.header {
			case "":
			case "-":
				r.Header["X-Obj"] = []string{}
			default:
				r.Header.Set("X-Obj", tc.header)
			}
			if tc.cookie != "" {
				r.Header.Set("Cookie", tc.cookie)
			}
			m, err := v.find(r)
			if err != nil {
				t.Fatal(err)
			}
			q := &query{raw: r.URL.RawQuery}
			in := v.input(r, m, q)
			for _, p := range m.op.params {
				got := p.absence.absent(r, p.Name, p.header)
				if got != tc.absent[p.Name] {
					t.Errorf("%s: absent = %v, want %v", p.Name, got, tc.absent[p.Name])
				}
				if got {
					if err := openapi3filter.ValidateParameter(r.Context(), in, p.kin); err != nil {
						t.Errorf("%s: seen absent, kin-openapi rejects: %v", p.Name, err)
					}
				}
			}
		})
	}
}

// FuzzAbsentObjectParametersAgreeWithKin: whatever the query, header and
// cookie, a parameter seen absent is one kin-openapi accepts.
func FuzzAbsentObjectParametersAgreeWithKin(f *testing.F) {
	for _, s := range [][3]string{{"", "", ""}, {"a=1", "r,1", "c=n,1"}, {"zz", "", "d=1"}, {"", "r=1", " c =x"}} {
		f.Add(s[0], s[1], s[2])
	}
	v := mustLoad(f, docObjectParams, Config{})
	f.Fuzz(func(t *testing.T, rawQuery, header, cookie string) {
		if !validHeaderValue(header) || !validHeaderValue(cookie) {
			return
		}
		r := httptest.NewRequest("GET", "/o", nil)
		r.URL.RawQuery = rawQuery
		if header != "" {
			r.Header.Set("X-Obj", header)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		m, err := v.find(r)
		if err != nil {
			return
		}
		q := &query{raw: r.URL.RawQuery}
		if q.check() != nil {
			return
		}
		in := v.input(r, m, q)
		for _, p := range m.op.params {
			if !p.absence.absent(r, p.Name, p.header) {
				continue
			}
			if err := openapi3filter.ValidateParameter(r.Context(), in, p.kin); err != nil {
				t.Fatalf("query=%q header=%q cookie=%q: %s seen absent, kin-openapi rejects: %v", rawQuery, header, cookie, p.Name, err)
			}
		}
	})
}
