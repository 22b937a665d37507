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

// rulesValidator is a NewRules Validator for the hardening tests: a JSON
// schema rule on POST /upload and a content-type rule on PUT /files/{name}.
func rulesValidator(t *testing.T, cfg Config) *Validator {
	t.Helper()
	cfg.Rules = append(cfg.Rules,
		Rule{Method: "POST", Path: "/upload", MaxBodyBytes: 64, Schema: []byte(`{"type":"object","required":["name"],"properties":{"name":{"type":"string","maxLength":8},"kind":{"enum":["a","b"]},"code":{"type":"string","pattern":"^[a-z]+$"},"email":{"type":"string","format":"email"}}}`)},
		Rule{Method: "PUT", Path: "/files/{name}", ContentTypes: []string{"text/plain"}},
	)
	v, err := NewRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHeadValidatedAsGet: HEAD is GET without a response body: a GET
// operation and a GET rule check it, and a 405 lists HEAD with GET.
func TestHeadValidatedAsGet(t *testing.T) {
	v := mustLoad(t, `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
`, Config{Rules: []Rule{{Method: "GET", Path: "/items/{id}", RequiredHeaders: []string{"X-Tenant"}}}})
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tc := range []struct {
		method, target, tenant string
		status                 int
		allow                  string
	}{
		{"HEAD", "/items/1", "t1", 200, ""},
		{"HEAD", "/items/x", "t1", 400, ""},
		{"HEAD", "/items/1", "", 400, ""},
		{"GET", "/items/1", "", 400, ""},
		{"DELETE", "/items/1", "t1", 405, "GET, HEAD"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.tenant != "" {
			r.Header.Set("X-Tenant", tc.tenant)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s (tenant %q) = %d Allow %q, want %d Allow %q", tc.method, tc.target, tc.tenant, rec.Code, rec.Header().Get("Allow"), tc.status, tc.allow)
		}
	}
}
