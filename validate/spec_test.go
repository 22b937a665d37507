package validate

import (
	"net/http/httptest"
	"testing"
)

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

// TestOpenAPI31 covers 3.1 schemas (const, type arrays, numeric
// exclusiveMinimum, prefixItems) and the kin-openapi panic vectors: a
// content parameter without a schema and an array without items.
func TestOpenAPI31(t *testing.T) {
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

func TestLoadFileExternalRefs(t *testing.T) {
	if _, err := LoadFile("testdata/refs/api.yaml", Config{}); err == nil {
		t.Fatal("external ref followed without AllowExternalRefs")
	}
	v, err := LoadFile("testdata/refs/api.yaml", Config{AllowExternalRefs: true})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]int{`{"size":2}`: 200, `{"size":0}`: 400} {
		rec := httptest.NewRecorder()
		Middleware(v)(&echo{}).ServeHTTP(rec, req{method: "POST", target: "/things", ct: jsonCT, body: body, noKey: true}.build())
		if rec.Code != want {
			t.Errorf("%s: status %d, want %d", body, rec.Code, want)
		}
	}
}

func TestOpenAPI31FastPath(t *testing.T) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.find(req{method: "POST", target: "/pets", noKey: true}.build())
	if err != nil {
		t.Fatal(err)
	}
	media := m.op.body.Content.Get(jsonCT)
	fs := m.op.fastBody[media]
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
