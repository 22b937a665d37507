package route

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchRules returns n rules over n/2 static prefixes, each with a
// parameterised path and a second rule on the same pattern with a header
// predicate, half of them on named hosts.
func benchRules(n int) []Rule {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	rules := make([]Rule, 0, n)
	for i := 0; len(rules) < n; i++ {
		var hosts []string
		if i%2 == 1 {
			hosts = []string{fmt.Sprintf("h%d.example.com", i%50)}
		}
		p := fmt.Sprintf("/svc%d/items/{id}", i)
		rules = append(rules, Rule{Hosts: hosts, Path: p, Methods: []string{"GET"}, Handler: h})
		if len(rules) < n {
			rules = append(rules, Rule{Hosts: hosts, Path: p, Headers: []Predicate{{Name: "X-Canary", Value: "1"}}, Handler: h})
		}
	}
	return rules
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 100, 10000} {
		tb, err := New(benchRules(n), Config{})
		if err != nil {
			b.Fatal(err)
		}
		target := fmt.Sprintf("/svc%d/items/42", (n/4)&^1) // an even i: the any-host group
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("X-Canary", "1")
		if m, err := tb.Match(r); err != nil || m.Params[0].Value != "42" {
			b.Fatalf("Match(%s) = %+v, %v", target, m, err)
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tb.Match(r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("rules=%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := tb.Match(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		tb.Close()
	}
}

// BenchmarkMatchStatic is the no-parameter case, which should not allocate.
func BenchmarkMatchStatic(b *testing.B) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	var rules []Rule
	for i := range 100 {
		rules = append(rules, Rule{Hosts: []string{"api.example.com"}, Path: fmt.Sprintf("/v1/res%d", i), Methods: []string{"GET"}, Handler: h})
	}
	tb, err := New(rules, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	r := httptest.NewRequest("GET", "http://api.example.com/v1/res50", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.Match(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHTTP is Match plus the request copy handed to the rule.
func BenchmarkServeHTTP(b *testing.B) {
	tb, err := New(benchRules(100), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	r := httptest.NewRequest("GET", "/svc24/items/42", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		tb.ServeHTTP(w, r)
	}
}

func BenchmarkCanonicalPath(b *testing.B) {
	for _, p := range []string{"/api/v1/users/42", "/api/v1/caf%c3%a9/%7euser"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = CanonicalPath(p)
			}
		})
	}
}

// BenchmarkMatchFallback measures a request whose most specific pattern has
// no rule for it, so the table falls back to a less specific pattern.
func BenchmarkMatchFallback(b *testing.B) {
	rules := append(benchRules(10000), Rule{Name: "catchall", Path: "/*", Handler: http.NotFoundHandler()})
	tb, err := New(rules, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	r := httptest.NewRequest("POST", "/svc2500/items/42", nil)
	if m, err := tb.Match(r); err != nil || m.Name != "catchall" {
		b.Fatalf("Match = %+v, %v", m, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tb.Match(r); err != nil {
			b.Fatal(err)
		}
	}
}
