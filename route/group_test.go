package route

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGroupPolicyHoldsOnEveryRuleOfTheGroup(t *testing.T) {
	budget := 2
	limit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if budget == 0 {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			budget--
			next.ServeHTTP(w, r)
		})
	}
	var order []string
	tag := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	own := []func(http.Handler) http.Handler{tag("own")}
	rules := Group([]func(http.Handler) http.Handler{tag("group"), limit},
		Rule{Name: "api", Path: "/api/*", Middleware: own, Handler: named("api")},
		Rule{Name: "v2", Path: "/api/*", Headers: []Predicate{{Name: "X-Version", Value: "v2"}}, Handler: named("v2")},
		Rule{Name: "legacy", Path: "/legacy/*", Rewrite: &Rewrite{StripPrefix: "/legacy", AddPrefix: "/api"}, Handler: named("api")},
	)
	rules = append(rules, Rule{Name: "open", Path: "/open", Handler: named("open")})
	if len(own) != 1 {
		t.Fatalf("Group modified a rule's Middleware slice: %d entries", len(own))
	}
	tb := mustNew(t, rules, Config{})
	var got []string
	for _, req := range []func() *http.Request{
		func() *http.Request { return httptest.NewRequest("GET", "/api/users", nil) },
		func() *http.Request {
			r := httptest.NewRequest("GET", "/api/users", nil)
			r.Header.Set("X-Version", "v2")
			return r
		},
		func() *http.Request { return httptest.NewRequest("GET", "/legacy/users", nil) },
		func() *http.Request { return httptest.NewRequest("GET", "/open", nil) },
	} {
		status, body, _ := serve(tb, req())
		got = append(got, body+":"+http.StatusText(status))
	}
	want := "api:OK v2:OK :Too Many Requests open:OK"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q: the group's limit must hold on every rule of the group only", strings.Join(got, " "), want)
	}
	if strings.Join(order[:2], ",") != "group,own" {
		t.Errorf("middleware order %v, want the group's outermost", order)
	}
}
