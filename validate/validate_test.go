package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/getkin/kin-openapi/routers/legacy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// regexp2 times pattern matches with a clock goroutine of its own,
	// which stops by itself a little after the last match with a deadline.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

// testAuth accepts the API key "secret" and the bearer token "good";
// the API key "readonly" is authenticated but forbidden.
func testAuth(ctx context.Context, in *AuthInput) error {
	switch in.Scheme.Type {
	case "apiKey":
		switch in.Request.Header.Get(in.Scheme.Name) {
		case "secret":
			return nil
		case "readonly":
			return ErrForbidden
		}
	case "http":
		if in.Request.Header.Get("Authorization") == "Bearer good" {
			return nil
		}
	}
	return errors.New("bad credentials")
}

func newShop(t testing.TB, cfg Config) *Validator {
	t.Helper()
	if cfg.Authenticate == nil && !cfg.SkipSecurity {
		cfg.Authenticate = testAuth
	}
	v, err := LoadFile("testdata/shop.yaml", cfg)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	return v
}

// req describes a test request.
type req struct {
	method, target string
	ct, body       string
	header         map[string]string
	noKey          bool
}

func (q req) build() *http.Request {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.target, body)
	if q.ct != "" {
		r.Header.Set("Content-Type", q.ct)
	}
	if !q.noKey {
		r.Header.Set("X-API-Key", "secret")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	return r
}

// problemBody is a decoded problem+json answer.
type problemBody struct {
	Status  int          `json:"status"`
	Title   string       `json:"title"`
	Detail  string       `json:"detail"`
	Errors  []FieldError `json:"errors"`
	Omitted int          `json:"omittedErrors"`
}

func decodeProblem(t testing.TB, rec *httptest.ResponseRecorder) problemBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	return p
}

func TestServersIndependence(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		target string
		status int
	}{
		{"spec base path at another host", Config{}, "http://gateway.internal/v1/categories", 200},
		{"prefix stripped by the gateway", Config{}, "http://gateway.internal/categories", 200},
		{"second server with variable default", Config{}, "/api/v1/categories", 200},
		{"base path alone is not a path", Config{}, "/v1", 404},
		{"partial segment is not a prefix", Config{}, "/v1categories", 404},
		{"explicit base paths replace servers", Config{BasePaths: []string{"/shop/"}}, "/shop/categories", 200},
		{"explicit base paths drop spec ones", Config{BasePaths: []string{"/shop"}}, "/v1/categories", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newShop(t, tc.cfg)
			rec := httptest.NewRecorder()
			Middleware(v)(&echo{}).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d, want %d", tc.target, rec.Code, tc.status)
			}
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

// kinRef is kin-openapi's own validation pipeline on a separate copy of the
// shop spec: a router's FindRoute, then openapi3filter.ValidateRequest. It
// is the reference the fuzz targets and benchmarks compare against.
type kinRef struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newKinRef(t testing.TB, legacyRouter bool) *kinRef {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// kin-openapi matches servers by host; the gateway receives requests at
	// its own host, so give the reference the bare paths.
	doc.Servers = nil
	var r routers.Router
	if legacyRouter {
		r, err = legacy.NewRouter(doc)
	} else {
		r, err = gorillamux.NewRouter(doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &kinRef{router: r, opts: &openapi3filter.Options{
		MultiError:              true,
		SkipSettingDefaults:     true,
		SchemaValidationOptions: formatOptions(),
		AuthenticationFunc: func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
			return testAuth(ctx, &AuthInput{Request: in.RequestValidationInput.Request, SchemeName: in.SecuritySchemeName, Scheme: in.SecurityScheme, Scopes: in.Scopes})
		},
	}}
}

// validate runs kin-openapi's pipeline on r with body.
func (k *kinRef) validate(r *http.Request, body []byte) error {
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	route, params, err := k.router.FindRoute(r)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route, Options: k.opts,
	})
}

func jsonUnmarshalNumber(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// verdictCase is a request and whether it must be accepted.
type verdictCase struct {
	method, target, ct, body, cookie string
	ok                               bool
}

// checkVerdicts runs cases through v.ValidateRequest.
func checkVerdicts(t *testing.T, v *Validator, cases []verdictCase) {
	t.Helper()
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", tc.cookie)
		}
		_, err := v.ValidateRequest(r, []byte(tc.body))
		if got := err == nil; got != tc.ok {
			var fields []FieldError
			if e, ok := err.(*Error); ok {
				fields = e.Fields
			}
			t.Errorf("%s %s %s (cookie %q) accepted = %v, want %v: %v %+v", tc.method, tc.target, tc.body, tc.cookie, got, tc.ok, err, fields)
		}
	}
}

// mustLoad loads a document given inline.
func mustLoad(t testing.TB, doc string, cfg Config) *Validator {
	t.Helper()
	v, err := Load([]byte(doc), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
