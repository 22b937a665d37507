package validate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	v, err := NewRules(Config{
		MaxBodyBytes: 1 << 10,
		Rules: []Rule{
			{RequiredHeaders: []string{"x-tenant"}},
			{Method: "POST", Path: "/users", ContentTypes: []string{"application/json"}, Schema: []byte(`{
				"type": "object",
				"required": ["name", "email"],
				"properties": {
					"name": {"type": "string", "minLength": 1},
					"email": {"type": "string", "format": "email"},
					"age": {"$ref": "#/$defs/age"}
				},
				"$defs": {"age": {"type": "integer", "minimum": 0}}
			}`)},
			{Method: "PUT", Path: "/users/{id}/avatar", ContentTypes: []string{"image/*"}, MaxBodyBytes: 16},
			{Path: "/events", JSON: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(v)(&echo{})
	tenant := map[string]string{"X-Tenant": "acme"}
	tests := []struct {
		name   string
		q      req
		status int
		field  string
	}{
		{"unmatched path passes", req{method: "GET", target: "/anything", header: tenant, noKey: true}, 200, ""},
		{"global header missing", req{method: "GET", target: "/anything", noKey: true}, 400, "X-Tenant"},
		{"schema ok", req{method: "POST", target: "/users", ct: jsonCT, body: `{"name":"a","email":"a@b.example","age":3}`, header: tenant, noKey: true}, 200, ""},
		{"schema fails", req{method: "POST", target: "/users", ct: jsonCT, body: `{"name":"","email":"nope","age":-1}`, header: tenant, noKey: true}, 400, "/age"},
		{"schema required", req{method: "POST", target: "/users", ct: jsonCT, body: `{}`, header: tenant, noKey: true}, 400, ""},
		{"rule content type", req{method: "POST", target: "/users", ct: "text/plain", body: `x`, header: tenant, noKey: true}, 415, ""},
		{"rule method scoped", req{method: "GET", target: "/users", header: tenant, noKey: true}, 200, ""},
		{"wildcard media ok", req{method: "PUT", target: "/users/7/avatar", ct: "image/png", body: "0123456789", header: tenant, noKey: true}, 200, ""},
		{"wildcard media refused", req{method: "PUT", target: "/users/7/avatar", ct: "text/png", body: "0123456789", header: tenant, noKey: true}, 415, ""},
		{"rule body limit", req{method: "PUT", target: "/users/7/avatar", ct: "image/png", body: strings.Repeat("x", 17), header: tenant, noKey: true}, 413, ""},
		{"global body limit", req{method: "POST", target: "/other", ct: "text/plain", body: strings.Repeat("x", 1025), header: tenant, noKey: true}, 413, ""},
		{"json well-formed", req{method: "POST", target: "/events", ct: jsonCT, body: `{"a":1}`, header: tenant, noKey: true}, 200, ""},
		{"json malformed", req{method: "POST", target: "/events", ct: jsonCT, body: `{"a":1,"A":2}`, header: tenant, noKey: true}, 400, "/A"},
		{"json required", req{method: "POST", target: "/events", header: tenant, noKey: true}, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.q.build())
			if rec.Code != tc.status {
				t.Fatalf("%s %s = %d, want %d: %s", tc.q.method, tc.q.target, rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				return
			}
			p := decodeProblem(t, rec)
			if tc.field == "" {
				return
			}
			for _, f := range p.Errors {
				if f.Name == tc.field || f.Pointer == tc.field {
					return
				}
			}
			t.Errorf("errors %+v lack %q", p.Errors, tc.field)
		})
	}
}

func TestRulesWithSpec(t *testing.T) {
	v := newShop(t, Config{Rules: []Rule{{Method: "GET", Path: "/categories", RequiredHeaders: []string{"X-Client"}}}})
	rec := httptest.NewRecorder()
	Middleware(v)(&echo{}).ServeHTTP(rec, req{method: "GET", target: "/v1/categories", noKey: true}.build())
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 from the rule", rec.Code)
	}
}

func TestConfigErrors(t *testing.T) {
	spec := func(extra string) []byte {
		return []byte(`openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
` + extra + `
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    K: {type: apiKey, in: header, name: X-K}
`)
	}
	tests := []struct {
		name string
		data []byte
		cfg  Config
	}{
		{"not openapi", []byte(`{"hello":1}`), Config{}},
		{"garbage", []byte("\x00\x01"), Config{}},
		{"security without Authenticate", spec("      security: [{K: []}]"), Config{}},
		{"undeclared scheme", spec("      security: [{Nope: []}]"), Config{SkipSecurity: false, Authenticate: testAuth}},
		{"negative body limit", spec(""), Config{MaxBodyBytes: -1}},
		{"bad rule path", spec(""), Config{Rules: []Rule{{Path: "/x/{"}}}},
		{"bad rule media", spec(""), Config{Rules: []Rule{{ContentTypes: []string{"json"}}}}},
		{"bad rule schema", spec(""), Config{Rules: []Rule{{Schema: []byte(`{"type": 5}`)}}}},
		{"rule schema with remote ref", spec(""), Config{Rules: []Rule{{Schema: []byte(`{"$ref": "https://example.com/s.json"}`)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.data, tc.cfg); err == nil {
				t.Fatalf("Load accepted it")
			}
		})
	}
	if _, err := Load(spec("      security: [{K: []}]"), Config{SkipSecurity: true}); err != nil {
		t.Errorf("SkipSecurity: %v", err)
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Errorf("New(nil) accepted")
	}
	if _, err := NewRules(Config{}); err == nil {
		t.Errorf("NewRules without rules accepted")
	}
	if _, err := LoadFile("testdata/missing.yaml", Config{}); err == nil {
		t.Errorf("LoadFile of a missing file accepted")
	}
}
