package validate

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// marshalCounter counts how often a schema carrying it as an extension is
// serialised. kin-openapi serialises a schema every time it compiles a JSON
// Schema validator for it, so a count that grows with requests is a
// validator compiled per request.
type marshalCounter struct{ n atomic.Int64 }

func (m *marshalCounter) MarshalJSON() ([]byte, error) {
	m.n.Add(1)
	return []byte(`"counted"`), nil
}

// countSchemaMarshals loads a document with a marshalCounter on the schema
// of every parameter, request body and response media type and response
// header of its operations.
func countSchemaMarshals(t *testing.T, doc string, cfg Config) (*Validator, *marshalCounter) {
	t.Helper()
	d, err := openapi3.NewLoader().LoadFromData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	mc := &marshalCounter{}
	mark := func(s *openapi3.SchemaRef) {
		if s != nil && s.Value != nil {
			if s.Value.Extensions == nil {
				s.Value.Extensions = map[string]any{}
			}
			s.Value.Extensions["x-count"] = mc
		}
	}
	for _, item := range d.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				mark(p.Value.Schema)
				for _, m := range p.Value.Content {
					mark(m.Schema)
				}
			}
			if op.RequestBody != nil {
				for _, m := range op.RequestBody.Value.Content {
					mark(m.Schema)
				}
			}
			for _, resp := range op.Responses.Map() {
				for _, m := range resp.Value.Content {
					mark(m.Schema)
				}
				for _, h := range resp.Value.Headers {
					mark(h.Value.Schema)
				}
			}
		}
	}
	v, err := New(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, mc
}

const spec31Carriers = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /multipart:
    post:
      requestBody:
        content:
          multipart/form-data:
            schema: {type: object, required: [kind], properties: {kind: {type: string, const: cat}, n: {type: integer, exclusiveMinimum: 0}}}
      responses: {"200": {description: ok}}
  /form:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, properties: {kind: {type: string, const: cat}}}
      responses: {"200": {description: ok}}
  /text:
    post:
      requestBody:
        content:
          text/plain:
            schema: {type: string, const: hello}
      responses: {"200": {description: ok}}
  /deep:
    get:
      parameters:
        - name: filter
          in: query
          style: deepObject
          explode: true
          schema: {type: object, properties: {kind: {type: string}, min: {type: integer}}, dependentRequired: {min: [kind]}}
      responses: {"200": {description: ok}}
  /content:
    get:
      parameters:
        - name: q
          in: query
          content:
            application/json:
              schema: {type: object, required: [kind], properties: {kind: {const: cat}}}
      responses: {"200": {description: ok}}
  /plain:
    get:
      parameters:
        - {name: n, in: query, required: true, schema: {type: integer, const: 5}}
      responses: {"200": {description: ok}}
  /defaults:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                kind: {type: string, const: cat, default: cat}
                n: {type: integer, default: 1}
                bad: {type: object, properties: {x: {type: integer, default: "no", const: 1}}}
              unevaluatedProperties: false
      responses: {"200": {description: ok}}
`

// multipartBody encodes fields as a multipart/form-data body.
func multipartBody(t testing.TB, fields ...string) (ct, body string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

// TestNoSchemaCompiledPerRequest: whatever carries a value whose 3.1 schema
// uses 2020-12 keywords (a multipart, form or text body, a deepObject or a
// content parameter, a JSON body with Config.InjectDefaults), it is judged
// by a validator compiled at load: the schemas are serialised at load and
// never again, however many requests are validated, while kin-openapi
// serialises them for each request it validates. Verdicts and reasons are
// those of the schema.
func TestNoSchemaCompiledPerRequest(t *testing.T) {
	mpCat, mpCatBody := multipartBody(t, "kind", "cat", "n", "2")
	mpDog, mpDogBody := multipartBody(t, "kind", "dog")
	mpZero, mpZeroBody := multipartBody(t, "kind", "cat", "n", "0")
	const form = "application/x-www-form-urlencoded"
	type want struct{ in, name, pointer, reason string }
	cases := []struct {
		name                     string
		method, target, ct, body string
		cfg                      Config
		reject                   *want // nil: accepted
	}{
		{"multipart valid", "POST", "/multipart", mpCat, mpCatBody, Config{}, nil},
		{"multipart const", "POST", "/multipart", mpDog, mpDogBody, Config{}, &want{"body", "", "/kind", "must be the constant value of the schema"}},
		{"multipart exclusiveMinimum", "POST", "/multipart", mpZero, mpZeroBody, Config{}, &want{"body", "", "/n", "must be more than 0"}},
		{"form valid", "POST", "/form", form, "kind=cat", Config{}, nil},
		{"form const", "POST", "/form", form, "kind=dog", Config{}, &want{"body", "", "/kind", "must be the constant value of the schema"}},
		{"text valid", "POST", "/text", "text/plain", "hello", Config{}, nil},
		{"text const", "POST", "/text", "text/plain", "bye", Config{}, &want{"body", "", "", "must be the constant value of the schema"}},
		{"deepObject valid", "GET", "/deep?filter[kind]=x&filter[min]=2", "", "", Config{}, nil},
		{"deepObject dependentRequired", "GET", "/deep?filter[min]=2", "", "", Config{}, &want{"query", "filter", "", "missing properties required by min: kind"}},
		{"deepObject type", "GET", "/deep?filter[kind]=x&filter[min]=two", "", "", Config{}, &want{"query", "filter", "", ""}},
		{"deepObject absent", "GET", "/deep", "", "", Config{}, nil},
		{"content valid", "GET", "/content?q=" + url.QueryEscape(`{"kind":"cat"}`), "", "", Config{}, nil},
		{"content const", "GET", "/content?q=" + url.QueryEscape(`{"kind":"dog"}`), "", "", Config{}, &want{"query", "q", "/kind", "must be the constant value of the schema"}},
		{"content required", "GET", "/content?q=" + url.QueryEscape(`{}`), "", "", Config{}, &want{"query", "q", "", "missing required properties: kind"}},
		{"plain parameter valid", "GET", "/plain?n=5", "", "", Config{}, nil},
		{"plain parameter const", "GET", "/plain?n=4", "", "", Config{}, &want{"query", "n", "", "must be the constant value of the schema"}},
		{"plain parameter absent", "GET", "/plain", "", "", Config{}, &want{"query", "n", "", "required"}},
		{"defaults valid", "POST", "/defaults", jsonCT, `{}`, Config{InjectDefaults: true}, nil},
		{"defaults const", "POST", "/defaults", jsonCT, `{"kind":"dog"}`, Config{InjectDefaults: true}, &want{"body", "", "/kind", "must be the constant value of the schema"}},
		{"defaults unevaluated", "POST", "/defaults", jsonCT, `{"x":1}`, Config{InjectDefaults: true}, &want{"body", "", "/x", "is not allowed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, mc := countSchemaMarshals(t, spec31Carriers, tc.cfg)
			build := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.ct != "" {
					r.Header.Set("Content-Type", tc.ct)
				}
				return r
			}
			before := mc.n.Load()
			var err error
			for range 5 {
				_, err = v.ValidateRequest(build(), []byte(tc.body))
			}
			if n := mc.n.Load() - before; n != 0 {
				t.Errorf("%d schema serialisations for 5 requests, want 0 (a validator compiled per request)", n)
			}
			if tc.reject == nil {
				if err != nil {
					t.Fatalf("rejected: %v %s", err, fieldsOf(err))
				}
				// The counter's control: kin-openapi, given the 3.1 route,
				// compiles a validator for every value it judges.
				if kinErr := kin31(v, build(), []byte(tc.body)); kinErr == nil && mc.n.Load() == before && tc.target != "/deep" { // /deep: absent, nothing judged
					t.Errorf("kin-openapi's own validation serialised no schema: the counter detects nothing")
				}
				return
			}
			var fields []FieldError
			if e, ok := err.(*Error); ok {
				fields = e.Fields
			}
			if len(fields) != 1 {
				t.Fatalf("fields %+v (%v), want one", fields, err)
			}
			f := fields[0]
			if f.In != tc.reject.in || f.Name != tc.reject.name || f.Pointer != tc.reject.pointer || tc.reject.reason != "" && f.Reason != tc.reject.reason {
				t.Errorf("field %+v, want %+v", f, *tc.reject)
			}
		})
	}
}

// BenchmarkOpenAPI31Carriers measures invalid 3.1 values whose schemas use
// 2020-12 keywords, by what carries them: gatekit judges them with
// validators compiled at load; kin-openapi, on the 3.1 route, compiles one
// per request.
func BenchmarkOpenAPI31Carriers(b *testing.B) {
	v, err := Load([]byte(spec31Carriers), Config{InjectDefaults: true})
	if err != nil {
		b.Fatal(err)
	}
	mpCT, mpBody := multipartBody(b, "kind", "dog")
	cases := []struct{ name, method, target, ct, body string }{
		{"multipart", "POST", "/multipart", mpCT, mpBody},
		{"deepObject", "GET", "/deep?filter[min]=2", "", ""},
		{"content", "GET", "/content?q=" + url.QueryEscape(`{"kind":"dog"}`), "", ""},
		{"defaults", "POST", "/defaults", jsonCT, `{"kind":"dog"}`},
	}
	for _, tc := range cases {
		body := []byte(tc.body)
		build := func() *http.Request {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			return r
		}
		b.Run(tc.name+"/gatekit", func(b *testing.B) {
			r := build()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); err == nil {
					b.Fatal("accepted")
				}
			}
		})
		b.Run(tc.name+"/kin-3.1", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if kin31(v, build(), body) == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
