package validate

import (
	"net/http"
	"net/http/httptest"
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
