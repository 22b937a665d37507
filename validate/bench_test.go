package validate

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchCases are the same requests for every pipeline.
var benchCases = []struct {
	name string
	q    req
}{
	{"GET-path-param", req{method: "GET", target: "/products/" + pid}},
	{"GET-query", req{method: "GET", target: "/products?limit=5&tags=a&tags=b&sort=price|-name&category=books"}},
	{"GET-deepObject", req{method: "GET", target: "/customers?filter[country]=NL&filter[minOrders]=3"}},
	{"GET-late-path", req{method: "GET", target: "/inventory/ABC-1234?includeHistory=true", header: map[string]string{"X-Warehouse": "ams"}}},
	{"POST-small-json", req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: `{"rating":5,"title":"Great","text":"Would buy again."}`}},
	{"POST-order-json", req{method: "POST", target: "/orders", ct: jsonCT, header: map[string]string{"Idempotency-Key": "bench-key-1"},
		body: `{"customerId":7,"items":[{"productId":"` + pid + `","quantity":2},{"productId":"` + pid + `","quantity":1}],` +
			`"shipping":{"line1":"Main St 1","city":"Berlin","postcode":"10115","country":"DE"},` +
			`"payment":{"method":"bank","iban":"NL91ABNA0417164300","amount":{"amount":12.5,"currency":"EUR"}}}`}},
}

// BenchmarkValidate compares the per-request cost of this package (engine
// and middleware) with kin-openapi's own pipeline (router FindRoute +
// openapi3filter.ValidateRequest) on the same spec and requests.
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
		r := bc.q.build()
		if _, err := v.ValidateRequest(r, body); err != nil {
			b.Fatalf("%s: %v", bc.name, err)
		}
		if err := gorilla.validate(bc.q.build(), body); err != nil {
			b.Fatalf("%s: kin: %v", bc.name, err)
		}
		b.Run(bc.name+"/gatekit-engine", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); err != nil {
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
				mw.ServeHTTP(w, r)
			}
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
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
					if err := k.ref.validate(rk, body); err != nil {
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

// BenchmarkOpenAPI31 measures 3.1 bodies: one whose schema uses JSON Schema
// 2020-12 keywords (const, prefixItems), which kin-openapi validates with a
// validator it compiles on every call, and one with common keywords only,
// which takes the compiled path.
func BenchmarkOpenAPI31(b *testing.B) {
	v, err := Load([]byte(spec31), Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, method, target, body string }{
		{"2020-keywords", "PUT", "/pets/1", `{"kind":"pet","tag":null,"size":1.5,"pair":["a",1]}`},
		{"common-keywords", "POST", "/pets", `{"name":"Tom","tag":null}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := req{method: bc.method, target: bc.target, ct: jsonCT, noKey: true}.build()
			body := []byte(bc.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.ValidateRequest(r, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
