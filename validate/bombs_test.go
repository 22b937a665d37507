package validate

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestJSONBombsBoundedAllocation sends the S15 payloads (RELIABILITY.md)
// through the middleware: each gets 400 (or 413), never reaches the
// backend, and allocates at most 4 × body size + 1 MiB.
func TestJSONBombsBoundedAllocation(t *testing.T) {
	v := newShop(t, Config{MaxBodyBytes: 2 << 20})
	bombs := map[string]string{
		"depth 10000":         strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
		"1 MiB of [":          strings.Repeat("[", 1<<20),
		"1M-element array":    `{"rating":1,"text":[` + strings.Repeat("0,", 1<<20) + `0]}`,
		"100k keys":           "{" + manyKeys(100000) + "}",
		"1 MB string":         `{"rating":1,"text":"` + strings.Repeat("x", 1<<20+10) + `"}`,
		"1e400":               `{"rating":1e400}`,
		"duplicate":           `{"rating":1,"rating":5}`,
		"case variant":        `{"rating":1,"RATING":5}`,
		"invalid UTF-8":       "{\"rating\":1,\"text\":\"\xff\xfe\"}",
		"lone surrogate":      `{"rating":1,"text":"\udfff"}`,
		"over the body limit": strings.Repeat(" ", 3<<20),
	}
	for name, body := range bombs {
		t.Run(name, func(t *testing.T) {
			e := &echo{}
			h := Middleware(v)(e)
			r := req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: body}.build()
			rec := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, r)
			runtime.ReadMemStats(&after)
			if rec.Code != 400 && rec.Code != 413 {
				t.Fatalf("status %d, want 400 or 413", rec.Code)
			}
			if e.calls != 0 {
				t.Fatal("reached the backend")
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(body)+1<<20); got > limit {
				t.Errorf("allocated %d bytes, limit %d", got, limit)
			}
		})
	}
}

// TestConcurrentValidation runs the table cases from many goroutines on one
// Validator (run with -race).
func TestConcurrentValidation(t *testing.T) {
	v := newShop(t, Config{})
	h := Middleware(v)(&nopHandler{})
	cases := shopCases()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cases {
				tc := cases[(i+g)%len(cases)]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, tc.q.build())
				if rec.Code != tc.status {
					t.Errorf("%s/%s: status %d, want %d", tc.op, tc.name, rec.Code, tc.status)
				}
			}
		}()
	}
	wg.Wait()
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }

// TestDeepObjectBoundedAllocation sends deepObject queries built to make
// kin-openapi materialise large values (a huge array index, many keys, deep
// nesting, repeated keys): each gets 400, never reaches the backend, and
// allocates at most 4 × query size + 1 MiB (the S15 budget).
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
