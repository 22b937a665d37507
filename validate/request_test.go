package validate

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// benchCases are the same requests for every pipeline; the invalid ones
// must be rejected by all of them.
var benchCases = []struct {
	name    string
	q       req
	invalid bool
}{
	{"GET-path-param", req{method: "GET", target: "/products/" + pid}, false},
	{"GET-query", req{method: "GET", target: "/products?limit=5&tags=a&tags=b&sort=price|-name&category=books"}, false},
	{"GET-deepObject", req{method: "GET", target: "/customers?filter[country]=NL&filter[minOrders]=3"}, false},
	{"GET-late-path", req{method: "GET", target: "/inventory/ABC-1234?includeHistory=true", header: map[string]string{"X-Warehouse": "ams"}}, false},
	{"POST-small-json", req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: `{"rating":5,"title":"Great","text":"Would buy again."}`}, false},
	{"POST-order-json", req{method: "POST", target: "/orders", ct: jsonCT, header: map[string]string{"Idempotency-Key": "bench-key-1"},
		body: `{"customerId":7,"items":[{"productId":"` + pid + `","quantity":2},{"productId":"` + pid + `","quantity":1}],` +
			`"shipping":{"line1":"Main St 1","city":"Berlin","postcode":"10115","country":"DE"},` +
			`"payment":{"method":"bank","iban":"NL91ABNA0417164300","amount":{"amount":12.5,"currency":"EUR"}}}`}, false},
	{"BAD-path-param", req{method: "GET", target: "/products/123"}, true},
	{"BAD-query", req{method: "GET", target: "/products?limit=500&tags=a&sort=price|bogus"}, true},
	{"BAD-header", req{method: "GET", target: "/inventory/ABC-1234", header: map[string]string{"X-Warehouse": "xyz"}}, true},
	{"BAD-order-json", req{method: "POST", target: "/orders", ct: jsonCT, header: map[string]string{"Idempotency-Key": "bench-key-1"},
		body: `{"customerId":"x","items":[{"productId":"nope","quantity":0}],` +
			`"payment":{"method":"bank","iban":"NL91","amount":{"amount":-1,"currency":"EURO"}}}`}, true},
}

// BenchmarkValidate compares the per-request cost of this package (engine
// and middleware) with kin-openapi's own pipeline (router FindRoute +
// openapi3filter.ValidateRequest, with the gorillamux and the legacy
// router) on the same spec and requests, valid and invalid (BAD-*).
func BenchmarkValidate(b *testing.B) {
	v := newShop(b, Config{})
	gorilla := newKinRef(b, false)
	leg := newKinRef(b, true)
	mw := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, bc := range benchCases {
		body := []byte(bc.q.body)
		if bc.q.body == "" {
			body = nil
		}
		// ok reports whether a pipeline's verdict is the expected one.
		ok := func(err error) bool { return (err != nil) == bc.invalid }
		r := bc.q.build()
		if _, err := v.ValidateRequest(r, body); !ok(err) {
			b.Fatalf("%s: %v", bc.name, err)
		}
		if err := gorilla.validate(bc.q.build(), body); !ok(err) {
			b.Fatalf("%s: kin: %v", bc.name, err)
		}
		b.Run(bc.name+"/gatekit-engine", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); !ok(err) {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/gatekit-middleware", func(b *testing.B) {
			b.ReportAllocs()
			w := httptest.NewRecorder()
			rd := bytes.NewReader(body)
			for b.Loop() {
				if body != nil {
					rd.Reset(body)
					r.Body = io.NopCloser(rd)
				}
				w.Body.Reset()
				mw.ServeHTTP(w, r)
			}
			if want := map[bool]int{false: 200, true: 400}[bc.invalid]; w.Code != want {
				b.Fatalf("status %d, want %d", w.Code, want)
			}
		})
		for _, k := range []struct {
			name string
			ref  *kinRef
		}{{"kin-gorillamux", gorilla}, {"kin-legacy", leg}} {
			b.Run(bc.name+"/"+k.name, func(b *testing.B) {
				b.ReportAllocs()
				rk := bc.q.build()
				for b.Loop() {
					if err := k.ref.validate(rk, body); !ok(err) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// FuzzBody posts random bodies to JSON, form and multipart operations. The
// validator must not panic, answers only 200/400/413/415, forwards exactly
// the bytes sent, and kin-openapi's own pipeline accepts what it accepts.
func FuzzBody(f *testing.F) {
	f.Add(uint8(0), []byte(`{"customerId":7,"items":[{"productId":"`+pid+`","quantity":2}]}`))
	f.Add(uint8(0), []byte(`{"customerId":7,"items":[],"payment":{"method":"card"}}`))
	f.Add(uint8(1), []byte(`{"rating":5,"title":"x"}`))
	f.Add(uint8(1), []byte(`{"rating":5,"RATING":1}`))
	f.Add(uint8(2), []byte(`[{"op":"delete","productId":"`+pid+`"}]`))
	f.Add(uint8(3), []byte("email=a%40b.example&message=hi&copies=2"))
	f.Add(uint8(4), []byte("--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n--XB--\r\n"))
	f.Add(uint8(4), []byte("--XB\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"))
	targets := []struct{ path, ct string }{
		{"/orders", jsonCT},
		{"/products/" + pid + "/reviews", jsonCT},
		{"/batch", jsonCT},
		{"/contact", "application/x-www-form-urlencoded"},
		{"/uploads", "multipart/form-data; boundary=XB"},
	}
	v := newShop(f, Config{MaxBodyBytes: 4096, JSON: JSONLimits{MaxDepth: 16, MaxMembers: 100}})
	ref := newKinRef(f, false)
	runs := 0
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := targets[int(which)%len(targets)]
		e := &echo{}
		q := req{method: "POST", target: tg.path, ct: tg.ct, body: string(body), header: map[string]string{"Idempotency-Key": "fuzz-key-1"}}
		rec := httptest.NewRecorder()
		h, r := Middleware(v)(e), q.build()
		// Every 8th input (and every seed) is measured: allocation stays
		// within 4 x body + 1 MiB. ReadMemStats stops the
		// world, too slow for every input.
		if runs++; runs%8 == 1 || runs <= 16 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, r)
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(body)+1<<20); got > limit {
				t.Fatalf("allocated %d bytes for a %d-byte body to %s, limit %d", got, len(body), tg.path, limit)
			}
		} else {
			h.ServeHTTP(rec, r)
		}
		switch rec.Code {
		case 200:
			if string(e.body) != string(body) {
				t.Fatalf("backend got %q, client sent %q", e.body, body)
			}
			if err := ref.validate(q.build(), body); err != nil {
				t.Fatalf("accepted %s %q, kin-openapi rejects it: %v", tg.path, body, err)
			}
		case 400, 413, 415:
			if e.calls != 0 {
				t.Fatalf("rejected request reached the backend")
			}
			decodeProblem(t, rec)
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzQuery sends random query strings (deepObject, delimited arrays,
// enums) and header values. Invariants as FuzzBody.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"filter[country]=NL&filter[minOrders]=3", "filter[items][50000000]=x", "filter[a][b][c]=1&filter=2",
		"limit=5&tags=a&tags=b&sort=price|-name", "q=go&in=products|customers&price=1e3", "lines=1%202%203",
		"status=paid,shipped&since=2024-02-29", "%zz=1", "limit=1e2", "price=NaN", "includeHistory=TRUE",
	} {
		f.Add(uint8(0), s)
	}
	paths := []string{"/customers", "/products", "/search", "/orders/" + oid + "/items", "/customers/42/orders", "/inventory/ABC-1234"}
	v := newShop(f, Config{})
	ref := newKinRef(f, false)
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		if strings.ContainsAny(query, " #\x00\r\n\t") || len(query) > 2048 {
			return // not a valid request target
		}
		target := paths[int(which)%len(paths)] + "?" + query
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		q := req{method: "GET", target: target}
		e := &echo{}
		rec := httptest.NewRecorder()
		Middleware(v)(e).ServeHTTP(rec, q.build())
		switch rec.Code {
		case 200:
			if err := ref.validate(q.build(), nil); err != nil {
				t.Fatalf("accepted %q, kin-openapi rejects it: %v", target, err)
			}
		case 400:
			if e.calls != 0 {
				t.Fatalf("rejected request reached the backend")
			}
			decodeProblem(t, rec)
		default:
			t.Fatalf("status %d for %q", rec.Code, target)
		}
	})
}

// TestDeepObjectBoundedAllocation sends deepObject queries built to make
// kin-openapi materialise large values (a huge array index, many keys, deep
// nesting, repeated keys): each gets 400, never reaches the backend, and
// allocates at most 4 × query size + 1 MiB.
func TestDeepObjectBoundedAllocation(t *testing.T) {
	v := newShop(t, Config{})
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, "&")
	}
	queries := map[string]string{
		"huge index":             "filter[items][50000000]=x",
		"huge index later":       "filter[country]=NL&filter[items][0]=a&filter[items][99999999]=b",
		"many keys":              many(5000, func(i int) string { return "filter[k" + strconv.Itoa(i) + "]=1" }),
		"deep nesting":           "filter" + strings.Repeat("[a]", 5000) + "=1",
		"repeated key":           many(5000, func(int) string { return "filter[country]=NL" }),
		"many indexes":           many(2000, func(i int) string { return "filter[items][" + strconv.Itoa(i) + "]=x" }),
		"deep under a property":  "filter[country]" + strings.Repeat("[a]", 5000) + "=1",
		"index under a property": "filter[minOrders][9999]=1",
		"undeclared property":    "filter[country]=NL&filter[evil]=1",
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			e := &echo{}
			h := Middleware(v)(e)
			r := req{method: "GET", target: "/customers?" + q}.build()
			rec := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, r)
			runtime.ReadMemStats(&after)
			if rec.Code != 400 {
				t.Fatalf("status %d, want 400: %.300s", rec.Code, rec.Body)
			}
			if e.calls != 0 {
				t.Fatal("reached the backend")
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(q)+1<<20); got > limit {
				t.Errorf("allocated %d bytes, limit %d", got, limit)
			}
		})
	}
}

// TestValidateRequestEngine uses the engine without a handler and checks
// the typed error.
func TestValidateRequestEngine(t *testing.T) {
	v := newShop(t, Config{})
	r := req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT}.build()
	_, err := v.ValidateRequest(r, []byte(`{"rating":9,"title":"`+strings.Repeat("x", 101)+`"}`))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateRequest = %v, want *Error wrapping ErrInvalid", err)
	}
	if e.Status != 400 || len(e.Fields) != 2 {
		t.Fatalf("Error = %+v, want 400 with 2 fields", e)
	}
	if _, err := v.ValidateRequest(r, []byte(`{"rating":3}`)); err != nil {
		t.Fatalf("valid body: %v", err)
	}
	r = req{method: "GET", target: "/nope"}.build()
	if _, err := v.ValidateRequest(r, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown path: %v, want ErrNotFound", err)
	}
}

// TestParameterRejectionSkipsBody: a request already rejected on a
// parameter is answered with its parameter errors, without its body being
// parsed or validated; with valid parameters the body's errors are listed.
func TestParameterRejectionSkipsBody(t *testing.T) {
	v := mustLoad(t, `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items:
    post:
      parameters:
        - {name: n, in: query, schema: {type: integer}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}}}
      responses: {"200": {description: ok}}
`, Config{})
	for _, tc := range []struct {
		target, body string
		want         string // the In of every listed field
		status       int
	}{
		{"/items?n=x", `{}`, "query", 400},
		{"/items?n=x", `{"name":`, "query", 400},
		{"/items?n=1", `{}`, "body", 400},
		{"/items?n=x", ``, "query body", 400},
	} {
		r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		_, err := v.ValidateRequest(r, []byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status {
			t.Fatalf("POST %s %s = %v, want %d", tc.target, tc.body, err, tc.status)
		}
		var ins []string
		for _, f := range e.Fields {
			ins = append(ins, f.In)
		}
		if strings.Join(ins, " ") != tc.want {
			t.Errorf("POST %s %s lists fields in %q, want %q", tc.target, tc.body, ins, tc.want)
		}
	}
}
