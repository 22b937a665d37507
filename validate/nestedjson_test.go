package validate

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const specNested = `openapi: 3.0.3
info: {title: nested, version: "1"}
paths:
  /search:
    get:
      parameters:
        - name: filter
          in: query
          content:
            application/json:
              schema:
                type: object
                properties:
                  role: {type: string, enum: [user, admin]}
        - name: X-Meta
          in: header
          content:
            application/json:
              schema: {type: object}
      responses: {"200": {description: ok}}
  /files:
    post:
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                meta:
                  type: object
                  properties:
                    role: {type: string, enum: [user, admin]}
                file: {type: string, format: binary}
            encoding:
              meta: {contentType: application/json}
      responses: {"200": {description: ok}}
`

// TestNestedJSONHardened: JSON in content parameters and multipart parts
// goes through the hardening parser (duplicate and case-variant keys,
// depth) before kin-openapi's encoding/json decoding, which keeps the last
// duplicate.
func TestNestedJSONHardened(t *testing.T) {
	v, err := Load([]byte(specNested), Config{JSON: JSONLimits{MaxDepth: 8}})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(v)(&echo{})
	get := func(filter string, kv ...string) func() *http.Request {
		return func() *http.Request {
			return multi("GET", "/search?filter="+url.QueryEscape(filter), "", kv...)
		}
	}
	part := func(meta string) func() *http.Request {
		body := "--XB\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n" + meta +
			"\r\n--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n--XB--\r\n"
		return func() *http.Request {
			return multi("POST", "/files", body, "Content-Type", "multipart/form-data; boundary=XB")
		}
	}
	runHard(t, h, []hardCase{
		{"param ok", get(`{"role":"user"}`), 200, ""},
		{"param invalid by schema", get(`{"role":"root"}`), 400, "filter"},
		{"param duplicate key", get(`{"role":"user","role":"admin"}`), 400, "filter"},
		{"param case-variant key", get(`{"role":"user","ROLE":"admin"}`), 400, "filter"},
		{"param too deep", get(`{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`), 400, "filter"},
		{"header duplicate key", get(`{}`, "X-Meta", `{"a":1,"a":2}`), 400, "X-Meta"},
		{"part ok", part(`{"role":"user"}`), 200, ""},
		{"part invalid by schema", part(`{"role":"root"}`), 400, ""},
		{"part duplicate key", part(`{"role":"user","role":"admin"}`), 400, ""},
	})
}

// TestRepeatedFormFields: a form field or multipart part given twice for a
// property that is not an array is refused (kin-openapi checks the first).
func TestRepeatedFormFields(t *testing.T) {
	h := Middleware(newShop(t, Config{}))(&echo{})
	form := func(body string) func() *http.Request {
		return func() *http.Request {
			return multi("POST", "/contact", body, "Content-Type", "application/x-www-form-urlencoded")
		}
	}
	mp := func(parts ...string) func() *http.Request {
		var b strings.Builder
		for i := 0; i+1 < len(parts); i += 2 {
			b.WriteString("--XB\r\nContent-Disposition: form-data; name=\"" + parts[i] + "\"; filename=\"a\"\r\n\r\n" + parts[i+1] + "\r\n")
		}
		b.WriteString("--XB--\r\n")
		return func() *http.Request {
			return multi("POST", "/uploads", b.String(), "Content-Type", "multipart/form-data; boundary=XB")
		}
	}
	runHard(t, h, []hardCase{
		{"form once", form("email=a%40b.example&message=hi"), 200, ""},
		{"form field twice", form("email=a%40b.example&message=hi&message=" + strings.Repeat("x", 3000)), 400, "/message"},
		{"form undeclared twice", form("email=a%40b.example&message=hi&x=1&x=2"), 200, ""},
		{"part once", mp("file", "x", "description", "d"), 200, ""},
		{"part twice", mp("file", "x", "description", "d", "description", strings.Repeat("x", 300)), 400, "/description"},
	})
}

const docRepeatedInUnion = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /f:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              anyOf: [{properties: {a: {type: integer}}}]
      responses: {"200": {description: ok}}
`

// TestRepeatedFormFieldDeclaredInAUnion: a field declared by an anyOf (or
// oneOf) member of the form schema, which kin-openapi decodes, is refused
// when given twice, as one declared by the schema itself is: kin-openapi
// would judge only the first value.
func TestRepeatedFormFieldDeclaredInAUnion(t *testing.T) {
	v := mustLoad(t, docRepeatedInUnion, Config{})
	const ct = "application/x-www-form-urlencoded"
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/f", ct: ct, body: "a=1", ok: true},
		{method: "POST", target: "/f", ct: ct, body: "a=1&a=x", ok: false},
	})
}
