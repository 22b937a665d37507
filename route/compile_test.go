package route

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
)

func TestHeaderQueryAndCookiePredicates(t *testing.T) {
	rules := []Rule{
		{Name: "hdr-eq", Path: "/h", Headers: []Predicate{{Name: "x-tier", Value: "gold"}}, Handler: named("hdr-eq")},
		{Name: "hdr-oneof", Path: "/h", Headers: []Predicate{{Name: "X-Tier", Op: OneOf, Values: []string{"silver", "bronze"}}}, Handler: named("hdr-oneof")},
		{Name: "hdr-re", Path: "/h", Headers: []Predicate{{Name: "X-Tier", Op: Regex, Value: `^beta-\d+$`}}, Handler: named("hdr-re")},
		{Name: "hdr-present", Path: "/h", Headers: []Predicate{{Name: "X-Tier", Op: Present}}, Handler: named("hdr-present")},
		{Name: "hdr-absent", Path: "/h", Headers: []Predicate{{Name: "X-Tier", Op: Absent}}, Handler: named("hdr-absent")},
		{Name: "q-eq", Path: "/q", Query: []Predicate{{Name: "v", Value: "2"}}, Handler: named("q-eq")},
		{Name: "q-re", Path: "/q", Query: []Predicate{{Name: "name", Op: Regex, Value: `^a b$`}}, Handler: named("q-re")},
		{Name: "q-present", Path: "/q", Query: []Predicate{{Name: "debug", Op: Present}}, Handler: named("q-present")},
		{Name: "q-default", Path: "/q", Handler: named("q-default")},
		{Name: "c-eq", Path: "/c", Cookies: []Predicate{{Name: "canary", Value: "1"}}, Handler: named("c-eq")},
		{Name: "c-oneof", Path: "/c", Cookies: []Predicate{{Name: "grp", Op: OneOf, Values: []string{"a", "b"}}}, Handler: named("c-oneof")},
		{Name: "c-absent", Path: "/c", Cookies: []Predicate{{Name: "session", Op: Absent}}, Handler: named("c-absent")},
		{Name: "c-default", Path: "/c", Handler: named("c-default")},
	}
	tb := mustNew(t, rules, Config{})
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		want   string
		status int
	}{
		{"header equals", "/h", map[string]string{"X-Tier": "gold"}, "hdr-eq", 200},
		{"header equals is case-sensitive on value", "/h", map[string]string{"X-Tier": "GOLD"}, "hdr-present", 200},
		{"header one of", "/h", map[string]string{"X-Tier": "bronze"}, "hdr-oneof", 200},
		{"header regex", "/h", map[string]string{"X-Tier": "beta-12"}, "hdr-re", 200},
		{"header regex miss", "/h", map[string]string{"X-Tier": "beta-x"}, "hdr-present", 200},
		{"header present empty", "/h", map[string]string{"X-Tier": ""}, "hdr-present", 200},
		{"header absent", "/h", nil, "hdr-absent", 200},
		{"query equals", "/q?v=2", nil, "q-eq", 200},
		{"query first value", "/q?v=3&v=2", nil, "q-default", 200},
		{"query decoded", "/q?name=a+b", nil, "q-re", 200},
		{"query percent decoded", "/q?%6eame=a%20b", nil, "q-re", 200},
		{"query semicolon pair skipped", "/q?v=2;x=1", nil, "q-default", 200},
		{"query present", "/q?debug", nil, "q-present", 200},
		{"query none", "/q", nil, "q-default", 200},
		{"cookie equals", "/c", map[string]string{"Cookie": "session=x; canary=1"}, "c-eq", 200},
		{"cookie one of", "/c", map[string]string{"Cookie": "session=x; grp=b"}, "c-oneof", 200},
		{"cookie absent", "/c", map[string]string{"Cookie": "grp=z"}, "c-absent", 200},
		{"cookie default", "/c", map[string]string{"Cookie": "session=1"}, "c-default", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			status, body, _ := serve(tb, r)
			if status != tc.status || body != tc.want {
				t.Fatalf("GET %s %v = %d %q, want %d %q", tc.target, tc.hdr, status, body, tc.status, tc.want)
			}
		})
	}
}

func TestNewRejectsInvalidRules(t *testing.T) {
	h := named("h")
	tests := []struct {
		name string
		rule Rule
	}{
		{"no handler", Rule{Path: "/"}},
		{"two handlers", Rule{Path: "/", Handler: h, Redirect: &Redirect{}}},
		{"relative pattern", Rule{Path: "api", Handler: h}},
		{"unbalanced brace", Rule{Path: "/{id", Handler: h}},
		{"bad param regex", Rule{Path: "/{id:(}", Handler: h}},
		{"backreference", Rule{Path: "/{id:(a)\\1}", Handler: h}},
		{"duplicate param", Rule{Path: "/{id}/{id}", Handler: h}},
		{"mid star", Rule{Path: "/a*/b", Handler: h}},
		{"non-canonical literal", Rule{Path: "/a/../b", Handler: h}},
		{"encoded literal", Rule{Path: "/%61", Handler: h}},
		{"lowercase method", Rule{Path: "/", Methods: []string{"get"}, Handler: h}},
		{"bad method", Rule{Path: "/", Methods: []string{"GE T"}, Handler: h}},
		{"bad regex", Rule{Path: "/", Headers: []Predicate{{Name: "X", Op: Regex, Value: "(a"}}, Handler: h}},
		{"backreference regex", Rule{Path: "/", Headers: []Predicate{{Name: "X", Op: Regex, Value: `(a)\1`}}, Handler: h}},
		{"huge regex", Rule{Path: "/", Headers: []Predicate{{Name: "X", Op: Regex, Value: strings.Repeat("a", MaxRegexLen+1)}}, Handler: h}},
		{"host header predicate", Rule{Path: "/", Headers: []Predicate{{Name: "host", Value: "x"}}, Handler: h}},
		{"empty oneof", Rule{Path: "/", Query: []Predicate{{Name: "q", Op: OneOf}}, Handler: h}},
		{"unknown op", Rule{Path: "/", Cookies: []Predicate{{Name: "c", Op: 99}}, Handler: h}},
		{"unnamed predicate", Rule{Path: "/", Headers: []Predicate{{Value: "x"}}, Handler: h}},
		{"bad pointer", Rule{Path: "/", Body: []Predicate{{Name: "a/b"}}, Handler: h}},
		{"bad pointer escape", Rule{Path: "/", Body: []Predicate{{Name: "/a~2"}}, Handler: h}},
		{"bad host", Rule{Hosts: []string{"a b"}, Path: "/", Handler: h}},
		{"unicode host", Rule{Hosts: []string{"bücher.example"}, Path: "/", Handler: h}},
		{"zero weights", Rule{Path: "/", Split: []Backend{{Handler: h}}}},
		{"negative weight", Rule{Path: "/", Split: []Backend{{Weight: -1, Handler: h}, {Weight: 1, Handler: h}}}},
		{"split without handler", Rule{Path: "/", Split: []Backend{{Weight: 1}}}},
		{"split key without split", Rule{Path: "/", Handler: h, SplitKey: func(*http.Request) string { return "k" }}},
		{"split header without split", Rule{Path: "/", Handler: h, SplitHeader: "X-Backend"}},
		{"redirect scheme", Rule{Path: "/", Redirect: &Redirect{Scheme: "ftp"}}},
		{"redirect status", Rule{Path: "/", Redirect: &Redirect{Status: 200}}},
		{"redirect path", Rule{Path: "/", Redirect: &Redirect{Path: "/a/../b"}}},
		{"redirect host", Rule{Path: "/", Redirect: &Redirect{Host: "evil.test/x"}}},
		{"rewrite prefix", Rule{Path: "/", Handler: h, Rewrite: &Rewrite{AddPrefix: "/v1/"}}},
		{"rewrite path", Rule{Path: "/", Handler: h, Rewrite: &Rewrite{ReplacePath: "/a%2fb"}}},
		{"rewrite header", Rule{Path: "/", Handler: h, Rewrite: &Rewrite{SetHeaders: map[string]string{"X": "a\r\nb"}}}},
		{"rewrite header name", Rule{Path: "/", Handler: h, Rewrite: &Rewrite{SetHeaders: map[string]string{"X Y": "a"}}}},
		{"rewrite remove header name", Rule{Path: "/", Handler: h, Rewrite: &Rewrite{RemoveHeaders: []string{"X:Y"}}}},
		{"mirror without handler", Rule{Path: "/", Handler: h, Mirror: &Mirror{}}},
		{"nil middleware", Rule{Path: "/", Handler: h, Middleware: []func(http.Handler) http.Handler{nil}}},
		{"middleware returns nil", Rule{Path: "/", Handler: h, Middleware: []func(http.Handler) http.Handler{func(http.Handler) http.Handler { return nil }}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := New([]Rule{tc.rule}, Config{})
			if err == nil {
				tb.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.rule)
			}
		})
	}
	if _, err := New([]Rule{{Hosts: []string{"a.test"}, Handler: h}}, Config{DefaultHost: "b.test"}); err == nil {
		t.Errorf("New with an unserved DefaultHost succeeded")
	}
	if _, err := New([]Rule{{Hosts: []string{"a.test"}, Handler: h}, {Path: "/other", Handler: h}}, Config{DefaultHost: "a.test"}); err == nil {
		t.Errorf("New with a DefaultHost that a rule for every host makes unused succeeded")
	}
}

func TestIgnoreCaseMatchesValuesWhateverTheirCase(t *testing.T) {
	tb := mustNew(t, []Rule{
		{Name: "eq", Path: "/eq", Headers: []Predicate{{Name: "X-Tier", Value: "beta", IgnoreCase: true}}, Handler: named("eq")},
		{Name: "one", Path: "/one", Query: []Predicate{{Name: "v", Op: OneOf, Values: []string{"v2", "v3"}, IgnoreCase: true}}, Handler: named("one")},
		{Name: "re", Path: "/re", Cookies: []Predicate{{Name: "c", Op: Regex, Value: "^gold$", IgnoreCase: true}}, Handler: named("re")},
		{Name: "exact", Path: "/exact", Headers: []Predicate{{Name: "X-Tier", Value: "beta"}}, Handler: named("exact")},
		{Path: "/*", Handler: named("other")},
	}, Config{})
	tests := []struct {
		target, header, cookie, want string
	}{
		{"/eq", "BETA", "", "eq"},
		{"/eq", "Beta", "", "eq"},
		{"/eq", "alpha", "", "other"},
		{"/one?v=V2", "", "", "one"},
		{"/one?v=v4", "", "", "other"},
		{"/re", "", "GOLD", "re"},
		{"/re", "", "golden", "other"},
		{"/exact", "Beta", "", "other"},
		{"/exact", "beta", "", "exact"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.header != "" {
			r.Header.Set("X-Tier", tc.header)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", "c="+tc.cookie)
		}
		if _, body, _ := serve(tb, r); body != tc.want {
			t.Errorf("%s X-Tier=%q c=%q: served by %q, want %q", tc.target, tc.header, tc.cookie, body, tc.want)
		}
	}
}

func TestCanonicalisationOptionsApplyToTheTable(t *testing.T) {
	cfg := Config{Path: pathcanon.Options{CaseInsensitive: true, Params: pathcanon.RejectParams}}
	tb := mustNew(t, []Rule{
		{Path: "/api/{id:[A-Z]+}", Handler: named("api")},
		{Path: "/*", Handler: named("catchall")},
	}, cfg)
	tests := []struct {
		target string
		status int
		body   string
	}{
		{"/API/ABC", 404, ""}, // the parameter value is folded too: [A-Z]+ no longer matches
		{"/api/x", 404, ""},
		{"/STORE/Pets", 200, "catchall"},
		{"/api;x=1/users", 400, ""},
	}
	for _, tc := range tests {
		status, body, _ := serve(tb, httptest.NewRequest("GET", tc.target, nil))
		if status == 200 && tc.status == 404 && body == "catchall" {
			status = 404 // reached the catch-all, not the /api rule
		}
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s = %d %q, want %d %q", tc.target, status, body, tc.status, tc.body)
		}
	}
	tb2 := mustNew(t, []Rule{{Path: "/api/*", Handler: named("api")}, {Path: "/*", Handler: named("catchall")}}, cfg)
	for _, target := range []string{"/API/users", "/Api/Users"} {
		if _, body, _ := serve(tb2, httptest.NewRequest("GET", target, nil)); body != "api" {
			t.Errorf("%s served by %q, want the /api/* rule", target, body)
		}
	}
	for _, p := range []string{"/API/x", "/a;b"} {
		if _, err := New([]Rule{{Path: p, Handler: named("x")}}, cfg); err == nil {
			t.Errorf("pattern %q accepted in a case-insensitive, parameter-rejecting table", p)
		}
	}
	if _, err := New(nil, Config{Path: pathcanon.Options{Params: 7}}); err == nil {
		t.Error("unknown ParamMode accepted")
	}
}
