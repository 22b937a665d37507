package validate

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// multi builds a request whose header lines are added one by one (kv is
// name, value, name, value...), so that a name may repeat. The API key is
// set unless kv sets X-API-Key itself.
func multi(method, target, body string, kv ...string) *http.Request {
	q := req{method: method, target: target, body: body, noKey: true}
	r := q.build()
	hasKey := false
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
		hasKey = hasKey || http.CanonicalHeaderKey(kv[i]) == "X-Api-Key"
	}
	if !hasKey {
		r.Header.Set("X-API-Key", "secret")
	}
	return r
}

// hardCase is a request with the status it must get and, for 4xx with
// field errors, the name or pointer that must be listed.
type hardCase struct {
	name   string
	r      func() *http.Request
	status int
	field  string
}

func runHard(t *testing.T, h http.Handler, cases []hardCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("%s %s = %d, want %d: %s", r.Method, r.URL, rec.Code, tc.status, rec.Body)
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

func TestRepeatedParameters(t *testing.T) {
	v := newShop(t, Config{})
	h := Middleware(v)(&echo{})
	get := func(target string, kv ...string) func() *http.Request {
		return func() *http.Request { return multi("GET", target, "", kv...) }
	}
	runHard(t, h, []hardCase{
		{"query once", get("/products?limit=5"), 200, ""},
		{"query twice", get("/products?limit=5&limit=100000"), 400, "limit"},
		{"query twice same value", get("/products?limit=5&limit=5"), 400, "limit"},
		{"exploded array may repeat", get("/products?tags=a&tags=b"), 200, ""},
		{"pipe-delimited array twice", get("/products?sort=price&sort=bogus"), 400, "sort"},
		{"form array without explode twice", get("/customers/42/orders?status=paid&status=bogus"), 400, "status"},
		{"header once", get("/inventory/ABC-1234", "X-Warehouse", "ams"), 200, ""},
		{"header twice", get("/inventory/ABC-1234", "X-Warehouse", "ams", "X-Warehouse", "evil"), 400, "X-Warehouse"},
		{"header twice both valid", get("/inventory/ABC-1234", "X-Warehouse", "ams", "X-Warehouse", "fra"), 400, "X-Warehouse"},
		{"cookie once", get("/session", "Cookie", "sid=abcdefghij0123456789; theme=dark"), 200, ""},
		{"cookie twice in one line", get("/session", "Cookie", "sid=abcdefghij0123456789; theme=dark; theme=neon"), 400, "theme"},
		{"cookie twice over two lines", get("/session", "Cookie", "sid=abcdefghij0123456789", "Cookie", "sid=0123456789abcdefghij"), 400, "sid"},
		{"deepObject key twice", get("/customers?filter[country]=NL&filter[country]=DE"), 400, "filter"},
		{"deepObject keys once", get("/customers?filter[country]=NL&filter[minOrders]=3"), 200, ""},
		{"api key twice", get("/products", "X-API-Key", "secret", "X-API-Key", "other"), 401, "ApiKey"},
	})
}

func TestCookieCount(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "a=1; b=2;a=3")
	r.Header.Add("Cookie", " a = 4 ; ab=5")
	if n := cookieCount(r, "a"); n != 3 {
		t.Errorf("cookieCount(a) = %d, want 3", n)
	}
	if n := cookieCount(r, "ab"); n != 1 {
		t.Errorf("cookieCount(ab) = %d, want 1", n)
	}
	if n := cookieCount(r, "c"); n != 0 {
		t.Errorf("cookieCount(c) = %d, want 0", n)
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

func TestJSONCharset(t *testing.T) {
	product := `{"name":"Go book","price":{"amount":12.5,"currency":"EUR"},"category":"books"}`
	post := func(target, ct, body string) func() *http.Request {
		return func() *http.Request { return multi("POST", target, body, "Content-Type", ct) }
	}
	spec := Middleware(newShop(t, Config{}))(&echo{})
	runHard(t, spec, []hardCase{
		{"no charset", post("/products", "application/json", product), 200, ""},
		{"utf-8", post("/products", "application/json; charset=utf-8", product), 200, ""},
		{"UTF-8 quoted", post("/products", `application/json;charset="UTF-8"`, product), 200, ""},
		{"utf-7", post("/products", "application/json; charset=utf-7", product), 415, ""},
		{"latin1", post("/products", "application/json; charset=iso-8859-1", product), 415, ""},
		{"utf-16 merge-patch", func() *http.Request {
			return multi("PATCH", "/products/"+pid, `{"name":"x"}`, "Content-Type", "application/merge-patch+json; charset=utf-16")
		}, 415, ""},
		{"charset twice", post("/products", "application/json; charset=utf-8; charset=utf-7", product), 415, ""},
	})
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule utf-8", post("/upload", "application/json; charset=utf-8", `{"name":"a"}`), 200, ""},
		{"rule utf-7", post("/upload", "application/json; charset=utf-7", `{"name":"a"}`), 415, ""},
	})
}

func TestSingleContentType(t *testing.T) {
	product := `{"name":"Go book","price":{"amount":12.5,"currency":"EUR"},"category":"books"}`
	post := func(target, body string, cts ...string) func() *http.Request {
		var kv []string
		for _, ct := range cts {
			kv = append(kv, "Content-Type", ct)
		}
		return func() *http.Request { return multi("POST", target, body, kv...) }
	}
	spec := Middleware(newShop(t, Config{}))(&echo{})
	runHard(t, spec, []hardCase{
		{"one", post("/products", product, "application/json"), 200, ""},
		{"two lines", post("/products", product, "application/json", "text/plain"), 415, ""},
		{"two equal lines", post("/products", product, "application/json", "application/json"), 415, ""},
		{"comma list", post("/products", product, "application/json, text/plain"), 415, ""},
		{"comma in quoted parameter", post("/products", product, `application/json; x="a,b"`), 200, ""},
		{"two lines without body", func() *http.Request {
			return multi("GET", "/products", "", "Content-Type", "a/b", "Content-Type", "c/d")
		}, 200, ""},
	})
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule one", func() *http.Request { return multi("PUT", "/files/a", "x", "Content-Type", "text/plain") }, 200, ""},
		{"rule two lines", func() *http.Request {
			return multi("PUT", "/files/a", "x", "Content-Type", "text/plain", "Content-Type", "application/x-evil")
		}, 415, ""},
	})
}

func TestPathVariants(t *testing.T) {
	post := func(target, body string) func() *http.Request {
		return func() *http.Request { return multi("POST", target, body, "Content-Type", "application/json") }
	}
	bad := `{"kind":"c"}` // fails the /upload rule's schema
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule applies", post("/upload", bad), 400, ""},
		{"trailing slash", post("/upload/", bad), 400, ""},
		{"double slash", post("//upload", bad), 400, ""},
		{"dot segment", post("/./upload", bad), 400, ""},
		{"dot-dot segment", post("/x/../upload", bad), 400, ""},
		{"encoded unreserved", post("/%75pload", bad), 400, ""},
		{"encoded dot segment", post("/%2e/upload", bad), 400, ""},
		{"path parameter", post("/upload;x=1", bad), 400, ""},
		{"encoded slash", post("/%2Fupload", bad), 400, ""},
		{"backslash", post(`/\upload`, bad), 400, ""},
		{"other path passes", post("/elsewhere", bad), 200, ""},
		// Paths are case-sensitive (RFC 3986 6.2.2.1): /Upload is another
		// resource, and a backend that folds case needs its own rule.
		{"case differs", post("/Upload", bad), 200, ""},
	})
	pass := Middleware(newShop(t, Config{PassThroughUnknown: true}))(&echo{})
	get := func(target string) func() *http.Request {
		return func() *http.Request { return multi("GET", target, "") }
	}
	runHard(t, pass, []hardCase{
		{"spec applies", get("/products?limit=500"), 400, "limit"},
		{"trailing slash", get("/products/?limit=500"), 400, "limit"},
		{"double slash", get("//products?limit=500"), 400, ""},
		{"dot segment", get("/./products?limit=500"), 400, ""},
		{"base path encoded", get("/v%31/products?limit=500"), 400, "limit"},
		{"semicolon in segment", get("/products;x=1?limit=500"), 400, ""},
		{"matrix parameter still works", get("/labels/;labelId=5"), 200, ""},
		{"unknown path passes", get("/elsewhere?limit=500"), 200, ""},
	})
}

// trackedBody is a request body that records whether it was read.
type trackedBody struct {
	io.Reader
	read bool
}

func (b *trackedBody) Read(p []byte) (int, error) { b.read = true; return b.Reader.Read(p) }
func (b *trackedBody) Close() error               { return nil }

func TestUnmatchedPassUntouched(t *testing.T) {
	v := rulesValidator(t, Config{MaxBodyBytes: 1024})
	var got io.ReadCloser
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Body })
	h := Middleware(v)(next)
	big := strings.Repeat("x", 4096)
	body := &trackedBody{Reader: strings.NewReader(big)}
	r := multi("POST", "/stream", "", "Content-Type", "application/octet-stream")
	r.Body, r.ContentLength = body, -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 || got != body || body.read {
		t.Fatalf("status %d, backend body is the original: %v, read by the middleware: %v", rec.Code, got == body, body.read)
	}
	if _, err := v.ValidateRequest(r, []byte(big)); err != nil {
		t.Errorf("ValidateRequest of an unmatched request: %v", err)
	}
	// A matched path keeps the caps.
	r = multi("POST", "/upload", big, "Content-Type", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("matched rule: status %d, want 413", rec.Code)
	}
}

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
	v31s, err := Load([]byte(spec31Strict), Config{})
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
			post("PATCH", "/products/"+pid, "application/merge-patch+json", `{"`+mark+`":1}`)},
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

func TestCompressedResponseNotValidated(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, `{"status":"ok"}`)
	_ = zw.Close()
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
		skipped        uint64
	}{
		{"gzip valid", "gzip", gz.Bytes(), 200, 1},
		{"gzip with identity", "identity, gzip", gz.Bytes(), 200, 1},
		{"identity invalid", "identity", []byte(`{"status":"on fire"}`), 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newShop(t, Config{Responses: ResponseReject})
			h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", tc.encoding)
				_, _ = w.Write(tc.body)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %q", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && !bytes.Equal(rec.Body.Bytes(), tc.body) {
				t.Errorf("body changed: %q", rec.Body)
			}
			if s := v.Stats(); s.SkippedResponses != tc.skipped {
				t.Errorf("SkippedResponses = %d, want %d", s.SkippedResponses, tc.skipped)
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
