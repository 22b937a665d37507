package validate

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNoEchoedInput sends a marker in values that fail, through the kin
// 3.0 validator, the 3.1 (JSON Schema 2020-12) validator and a rule
// schema: no answer may contain it.
func TestNoEchoedInput(t *testing.T) {
	const mark = "ZQXJECHO"
	v31, err := Load([]byte(spec31), Config{})
	if err != nil {
		t.Fatal(err)
	}
	v31x, err := Load([]byte(`openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /x:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                code: {type: string, pattern: "^[a-z]+$"}
                email: {type: string, format: email}
                day: {type: string, format: date}
      responses: {"200": {description: ok}}
`), Config{})
	if err != nil {
		t.Fatal(err)
	}
	v31s, err := Load([]byte(spec31Keywords2020), Config{})
	if err != nil {
		t.Fatal(err)
	}
	post := func(method, target, ct, body string) func() *http.Request {
		return func() *http.Request { return multi(method, target, body, "Content-Type", ct) }
	}
	tests := []struct {
		name string
		h    http.Handler
		r    func() *http.Request
	}{
		{"3.0 unsupported property", Middleware(newShop(t, Config{}))(&echo{}),
			post("PATCH", "/products/"+pid, "application/merge-patch+json", `{"<`+mark+`>":1}`)}, // plain names are named (propertyNotAllowed)
		{"3.0 format", Middleware(newShop(t, Config{}))(&echo{}),
			post("POST", "/products", jsonCT, `{"name":"x","price":{"amount":1,"currency":"EUR"},"category":"books","releaseDate":"`+mark+`"}`)},
		{"3.0 query parse", Middleware(newShop(t, Config{}))(&echo{}),
			func() *http.Request { return multi("GET", "/products?limit="+mark, "") }},
		{"3.1 const", Middleware(v31)(&echo{}), post("PUT", "/pets/1", jsonCT, `{"kind":"`+mark+`"}`)},
		{"3.1 type", Middleware(v31)(&echo{}), post("PUT", "/pets/1", jsonCT, `{"kind":"pet","tag":{"`+mark+`":1}, "pair":["`+mark+`","`+mark+`"]}`)},
		{"3.1 length", Middleware(v31)(&echo{}), post("POST", "/pets", jsonCT, `{"name":"`+mark+`"}`)},
		{"rule enum and length", Middleware(rulesValidator(t, Config{}))(&echo{}), post("POST", "/upload", jsonCT, `{"name":"`+mark+`","kind":"`+mark+`"}`)},
		{"rule pattern and format", Middleware(rulesValidator(t, Config{}))(&echo{}), post("POST", "/upload", jsonCT, `{"name":"a","code":"`+mark+`","email":"`+mark+`"}`)},
		{"3.1 pattern and format", Middleware(v31x)(&echo{}), post("POST", "/x", jsonCT, `{"code":"`+mark+`","email":"`+mark+`","day":"`+mark+`"}`)},
		{"3.1 2020-12 format", Middleware(v31s)(&echo{}), post("POST", "/shapes", jsonCT, `{"kind":"square","email":"`+mark+`"}`)},
		{"rule type", Middleware(rulesValidator(t, Config{}))(&echo{}), post("POST", "/upload", jsonCT, `{"name":["`+mark+`"]}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, tc.r())
			if rec.Code != 400 {
				t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), mark) {
				t.Fatalf("the answer echoes the input: %s", rec.Body)
			}
			if p := decodeProblem(t, rec); len(p.Errors) == 0 {
				t.Fatalf("no field errors: %s", rec.Body)
			}
		})
	}
}

func TestPointerOf(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want string
	}{
		{nil, ""},
		{[]string{"a", "0"}, "/a/0"},
		{[]string{"a/b", "~c", ""}, "/a~1b/~0c/"},
	} {
		if got := pointerOf(tc.path); got != tc.want {
			t.Errorf("pointerOf(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { _ = pointerOf([]string{"items", "0", "productId"}) }); n > 1 {
		t.Errorf("pointerOf allocates %.0f times, want 1", n)
	}
}

func TestMaxErrorsAndBoundedReasons(t *testing.T) {
	v := newShop(t, Config{MaxErrors: 2})
	long := strings.Repeat("é", 5000)
	r := req{method: "POST", target: "/customers", ct: jsonCT,
		body: `{"firstName":"` + long + `","lastName":"` + long + `","email":"` + long + `","birthDate":"` + long + `"}`}.build()
	rec := httptest.NewRecorder()
	Middleware(v)(&echo{}).ServeHTTP(rec, r)
	p := decodeProblem(t, rec)
	if rec.Code != 400 || len(p.Errors) != 2 || p.Omitted < 1 {
		t.Fatalf("status %d, %d errors, %d omitted; want 400, 2, >=1", rec.Code, len(p.Errors), p.Omitted)
	}
	if rec.Body.Len() > 2000 || strings.Contains(rec.Body.String(), "éééé") {
		t.Fatalf("answer echoes client input (%d bytes): %s", rec.Body.Len(), rec.Body)
	}
}

func TestWriteErrorNonValidationError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), errors.New("secret internal detail"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}
