package validate

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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

// BenchmarkParseJSON measures the hardening parser alone against
// encoding/json decoding into any.
func BenchmarkParseJSON(b *testing.B) {
	body := []byte(benchCases[5].q.body)
	lim := JSONLimits{}.withDefaults()
	b.Run("gatekit", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseJSON(body, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	v := newShop(b, Config{})
	b.Run("gatekit-interned", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseJSONInterned(body, lim, v.intern); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v any
			if err := jsonUnmarshalNumber(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookup measures finding the operation alone.
func BenchmarkLookup(b *testing.B) {
	v := newShop(b, Config{})
	b.ReportAllocs()
	var buf [8]string
	for b.Loop() {
		if e, _ := v.lookupPath(&v.ops, "/v1/inventory/ABC-1234", buf[:0]); e == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkOpenAPI31 measures 3.1 bodies, valid and invalid: one schema
// uses JSON Schema 2020-12 keywords (const, prefixItems), which kin-openapi
// validates with a validator it compiles on every call; the other uses
// common keywords only: valid bodies take the compiled path, invalid ones
// kin-openapi's 3.0 visitor (lite31.go).
func BenchmarkOpenAPI31(b *testing.B) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, method, target, body string
		invalid                    bool
	}{
		{"2020-keywords", "PUT", "/pets/1", `{"kind":"pet","tag":null,"size":1.5,"pair":["a",1]}`, false},
		{"2020-keywords-invalid", "PUT", "/pets/1", `{"kind":"cat","tag":5,"size":0,"pair":[1,"a"]}`, true},
		{"common-keywords", "POST", "/pets", `{"name":"Tom","tag":null}`, false},
		{"common-keywords-invalid", "POST", "/pets", `{"name":"T","tag":5,"legacy":null}`, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := req{method: bc.method, target: bc.target, ct: jsonCT, noKey: true}.build()
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); (err != nil) != bc.invalid {
					b.Fatal(err)
				}
			}
		})
	}
}
