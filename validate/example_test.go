package validate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatekit/gatekit/validate"
)

const petSpec = `openapi: 3.0.3
info: {title: Pets, version: "1"}
servers: [{url: "https://pets.example.com/api"}]
paths:
  /pets/{id}:
    put:
      security: [{Key: []}]
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name, kind]
              properties:
                name: {type: string, maxLength: 20}
                kind: {type: string, enum: [cat, dog]}
      responses: {"204": {description: stored}}
components:
  securitySchemes:
    Key: {type: apiKey, in: header, name: X-API-Key}
`

func ExampleMiddleware() {
	v, err := validate.Load([]byte(petSpec), validate.Config{
		Authenticate: func(ctx context.Context, in *validate.AuthInput) error {
			if in.Request.Header.Get("X-API-Key") != "s3cret" {
				return errors.New("unknown key")
			}
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("backend got %s\n", body)
		w.WriteHeader(http.StatusNoContent)
	})
	h := validate.Middleware(v)(backend)

	send := func(target, body string) {
		r := httptest.NewRequest("PUT", target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-API-Key", "s3cret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadRequest {
			fmt.Println(rec.Code)
			return
		}
		fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
		fmt.Print(rec.Body.String())
	}
	send("/api/pets/7", `{"name":"Tom","kind":"cat"}`) // valid: reaches the backend
	send("/api/pets/7", `{"kind":"cow"}`)              // two errors: answered by the gateway
	// Output:
	// backend got {"name":"Tom","kind":"cat"}
	// 204
	// 400 application/problem+json
	// {"detail":"the request is invalid","errors":[{"in":"body","pointer":"/kind","reason":"value is not one of the allowed values [\"cat\",\"dog\"]"},{"in":"body","pointer":"/name","reason":"property \"name\" is missing"}],"status":400,"title":"Bad Request","type":"about:blank"}
}

func ExampleNewRules() {
	v, err := validate.NewRules(validate.Config{
		MaxBodyBytes: 1 << 10,
		Rules: []validate.Rule{
			{RequiredHeaders: []string{"X-Tenant"}},
			{Method: "POST", Path: "/events", ContentTypes: []string{"application/json"},
				Schema: []byte(`{"type":"object","required":["type"],"properties":{"type":{"enum":["click","view"]}}}`)},
		},
	})
	if err != nil {
		panic(err)
	}
	h := validate.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, body := range []string{`{"type":"click"}`, `{"type":"click","type":"view"}`, `{"type":"scroll"}`} {
		r := httptest.NewRequest("POST", "/events", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Tenant", "acme")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 400
	// 400
}

func ExampleValidator_ValidateRequest() {
	v, err := validate.Load([]byte(petSpec), validate.Config{SkipSecurity: true})
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("PUT", "/pets/7", nil)
	r.Header.Set("Content-Type", "application/json")
	_, err = v.ValidateRequest(r, []byte(`{"name":"Tom"}`))
	var verr *validate.Error
	if errors.As(err, &verr) {
		fmt.Println(verr.Status, errors.Is(err, validate.ErrInvalid))
		for _, f := range verr.Fields {
			fmt.Printf("%s %s: %s\n", f.In, f.Pointer, f.Reason)
		}
	}
	// Output:
	// 400 true
	// body /kind: property "kind" is missing
}

// A document is checked as a whole: every problem is reported at once, one
// line each with its JSON pointer. What never changes a verdict (here an
// example that does not match its schema) is a warning unless Strict.
func ExampleLoadError() {
	const doc = `openapi: 3.0.3
info: {title: shop, version: "1"}
paths:
  /items/{id}:
    get:
      responses: {"200": {description: ok}}
  /items:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {code: {type: string, pattern: "(?<=x"}}}
      responses: {"200": {description: ok}}
    put:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {code: {type: string}}}
            example: {code: 5}
      responses: {"200": {description: ok}}
`
	for _, strict := range []bool{false, true} {
		_, err := validate.Load([]byte(doc), validate.Config{Strict: strict})
		var le *validate.LoadError
		if errors.As(err, &le) {
			fmt.Printf("strict=%v: %d problems\n", strict, len(le.Problems))
			for _, p := range le.Problems {
				fmt.Println(p.Pointer)
			}
		}
	}
	// Output:
	// strict=false: 2 problems
	// /paths/~1items/post
	// /paths/~1items~1{id}/get
	// strict=true: 3 problems
	// /paths/~1items/post
	// /paths/~1items/put
	// /paths/~1items~1{id}/get
}
