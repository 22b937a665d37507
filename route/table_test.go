package route

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// named returns a handler that answers with its name.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(name))
	})
}

func mustNew(t testing.TB, rules []Rule, cfg Config) *Table {
	t.Helper()
	tb, err := New(rules, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

// serve routes one request and returns the status and body.
func serve(tb *Table, r *http.Request) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	tb.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestPredicates(t *testing.T) {
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

func TestPrecedence(t *testing.T) {
	rules := []Rule{
		{Name: "any-host-catchall", Path: "/*", Handler: named("any-host-catchall")},
		{Name: "any-host-api", Path: "/api/*", Handler: named("any-host-api")},
		{Name: "users-param", Path: "/api/users/{id}", Handler: named("users-param")},
		{Name: "users-static", Path: "/api/users/me", Handler: named("users-static")},
		{Name: "users-regex", Path: "/api/users/{id:[0-9]+}/posts", Handler: named("users-regex")},
		{Name: "first", Path: "/order", Handler: named("first")},
		{Name: "second", Path: "/order", Handler: named("second")},
		{Name: "low", Path: "/prio", Handler: named("low")},
		{Name: "high", Path: "/prio", Priority: 5, Handler: named("high")},
		{Name: "generic", Path: "/spec", Handler: named("generic")},
		{Name: "get-only", Path: "/spec", Methods: []string{"GET"}, Handler: named("get-only")},
		{Name: "get-header", Path: "/spec", Methods: []string{"GET"}, Headers: []Predicate{{Name: "X-A", Op: Present}}, Handler: named("get-header")},
		{Name: "exact-host", Hosts: []string{"api.example.com"}, Path: "/*", Handler: named("exact-host")},
		{Name: "wild-short", Hosts: []string{"*.example.com"}, Path: "/*", Handler: named("wild-short")},
		{Name: "wild-long", Hosts: []string{"*.eu.example.com"}, Path: "/*", Handler: named("wild-long")},
		{Name: "pred-only", Hosts: []string{"p.test"}, Path: "/x/{id}", Headers: []Predicate{{Name: "X-B", Op: Present}}, Handler: named("pred-only")},
		{Name: "pred-fallback", Hosts: []string{"p.test"}, Path: "/x/*", Handler: named("pred-fallback")},
		{Name: "q-static", Hosts: []string{"q.test"}, Path: "/q/1", Methods: []string{"PUT"}, Handler: named("q-static")},
		{Name: "q-param", Hosts: []string{"q.test"}, Path: "/q/{id}", Methods: []string{"GET"}, Headers: []Predicate{{Name: "X-Q", Op: Present}}, Handler: named("q-param")},
		{Name: "q-param-wild", Hosts: []string{"q.test"}, Path: "/q/{id}/*", Methods: []string{"GET"}, Handler: named("q-param-wild")},
		{Name: "q-wild", Hosts: []string{"q.test"}, Path: "/q/*", Methods: []string{"POST"}, Handler: named("q-wild")},
		{Name: "q-root", Hosts: []string{"q.test"}, Path: "/*", Methods: []string{"GET"}, Handler: named("q-root")},
	}
	tb := mustNew(t, rules, Config{})
	tests := []struct {
		name, method, host, target string
		hdr                        map[string]string
		want                       string
		status                     int
	}{
		{"static beats param", "GET", "a.test", "/api/users/me", nil, "users-static", 200},
		{"param beats wildcard", "GET", "a.test", "/api/users/7", nil, "users-param", 200},
		{"regex param", "GET", "a.test", "/api/users/7/posts", nil, "users-regex", 200},
		{"regex param mismatch falls to wildcard", "GET", "a.test", "/api/users/x/posts", nil, "any-host-api", 200},
		{"longer wildcard", "GET", "a.test", "/api/other", nil, "any-host-api", 200},
		{"root wildcard", "GET", "a.test", "/zzz", nil, "any-host-catchall", 200},
		{"declaration order", "GET", "a.test", "/order", nil, "first", 200},
		{"priority", "GET", "a.test", "/prio", nil, "high", 200},
		{"more conditions first", "GET", "a.test", "/spec", map[string]string{"X-A": "1"}, "get-header", 200},
		{"method condition counts", "GET", "a.test", "/spec", nil, "get-only", 200},
		{"generic for other methods", "POST", "a.test", "/spec", nil, "generic", 200},
		{"exact host", "GET", "API.example.com.:443", "/x", nil, "exact-host", 200},
		{"longest wildcard", "GET", "a.eu.example.com", "/x", nil, "wild-long", 200},
		{"short wildcard deep", "GET", "a.b.example.com", "/x", nil, "wild-short", 200},
		{"wildcard excludes apex", "GET", "example.com", "/order", nil, "first", 200},
		{"predicate miss falls back to a less specific pattern", "GET", "p.test", "/x/1", nil, "pred-fallback", 200},
		{"predicate hit", "GET", "p.test", "/x/1", map[string]string{"X-B": "1"}, "pred-only", 200},
		{"less specific pattern", "GET", "p.test", "/x/1/2", nil, "pred-fallback", 200},
		{"fallback reaches the root wildcard", "GET", "q.test", "/q/1", nil, "q-root", 200},
		{"fallback keeps specificity order", "GET", "q.test", "/q/1/x", nil, "q-param-wild", 200},
		{"405 only when no matching pattern accepts the method", "DELETE", "q.test", "/q/1", nil, "", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Host = tc.host
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			status, body, _ := serve(tb, r)
			if status != tc.status || (tc.status == 200 && body != tc.want) {
				t.Fatalf("%s %s%s = %d %q, want %d %q", tc.method, tc.host, tc.target, status, body, tc.status, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	rules := []Rule{
		{Hosts: []string{"a.test"}, Path: "/items", Methods: []string{"GET", "POST"}, Handler: named("items")},
		{Hosts: []string{"a.test"}, Path: "/items", Methods: []string{"PURGE"}, Handler: named("purge")},
		{Hosts: []string{"a.test"}, Path: "/any", Handler: named("any")},
	}
	tests := []struct {
		name, method, host, target string
		cfg                        Config
		status                     int
		allow, body                string
	}{
		{"not found", "GET", "a.test", "/nope", Config{}, 404, "", ""},
		{"method not allowed", "DELETE", "a.test", "/items", Config{}, 405, "GET, POST, PURGE", ""},
		{"extension method listed", "PURGE", "a.test", "/items", Config{}, 200, "", "purge"},
		{"extension method on any-method rule", "PURGE", "a.test", "/any", Config{}, 405, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT", ""},
		{"405 lists every matching pattern", "PUT", "a.test", "/items", Config{}, 405, "GET, POST, PURGE", ""},
		{"lowercase method", "get", "a.test", "/items", Config{}, 400, "", ""},
		{"mixed-case method", "GeT", "a.test", "/any", Config{}, 400, "", ""},
		{"unknown host", "GET", "b.test", "/items", Config{}, 421, "", ""},
		{"default host", "GET", "b.test", "/items", Config{DefaultHost: "A.test"}, 200, "", "items"},
		{"bad path", "GET", "a.test", "/items/..%2f", Config{}, 400, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := mustNew(t, rules, tc.cfg)
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Method, r.Host = tc.method, tc.host
			status, body, h := serve(tb, r)
			if status != tc.status {
				t.Fatalf("%s %s = %d, want %d (%s)", tc.method, tc.target, status, tc.status, body)
			}
			if got := h.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if status >= 400 {
				var p map[string]any
				if h.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil || p["status"] != float64(status) {
					t.Errorf("not a problem+json %d response: %q %q", status, h.Get("Content-Type"), body)
				}
			} else if body != tc.body {
				t.Errorf("body = %q, want %q", body, tc.body)
			}
		})
	}
}

func TestErrorHandler(t *testing.T) {
	var got error
	tb := mustNew(t, []Rule{{Path: "/a", Methods: []string{"GET"}, Handler: named("a")}}, Config{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(599)
		},
	})
	status, _, _ := serve(tb, httptest.NewRequest("POST", "/a", nil))
	var me *MethodError
	if status != 599 || !errors.As(got, &me) || strings.Join(me.Allow, ",") != "GET" {
		t.Fatalf("ErrorHandler status %d err %v", status, got)
	}
}

func TestNewRejects(t *testing.T) {
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
}

func TestSwap(t *testing.T) {
	tb := mustNew(t, []Rule{{Path: "/v", Handler: named("v1")}}, Config{})
	if err := tb.Swap([]Rule{{Path: "/{bad"}}); err == nil {
		t.Fatal("Swap accepted invalid rules")
	}
	if _, body, _ := serve(tb, httptest.NewRequest("GET", "/v", nil)); body != "v1" {
		t.Fatalf("after failed Swap body = %q, want v1", body)
	}
	// Concurrent requests during swaps always see one complete version:
	// the "old" rule matches /v by its exact pattern, the "new" one by /*;
	// a name with the other's pattern would be a torn read.
	if err := tb.Swap([]Rule{{Name: "old", Path: "/v", Handler: named("a")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 1)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := httptest.NewRequest("GET", "/v", nil)
				m, err := tb.Match(r)
				if err != nil {
					select {
					case errs <- err.Error():
					default:
					}
					return
				}
				if (m.Name == "old") != (m.Pattern == "/v") {
					select {
					case errs <- "mixed versions: " + m.Name + " " + m.Pattern:
					default:
					}
					return
				}
			}
		}()
	}
	for i := range 200 {
		rules := []Rule{{Name: "old", Path: "/v", Handler: named("a")}}
		if i%2 == 1 {
			rules = []Rule{{Name: "new", Path: "/*", Handler: named("b")}}
		}
		if err := tb.Swap(rules); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

func TestServeSetsCanonicalRequest(t *testing.T) {
	var got *http.Request
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r })
	tb := mustNew(t, []Rule{{Name: "files", Path: "/files/{name}/*", Handler: rec}}, Config{})
	in := httptest.NewRequest("GET", "/files/caf%c3%a9%3b/%7euser/x%20y?q=1", nil)
	orig := *in.URL
	status, _, _ := serve(tb, in)
	if status != 200 || got == nil {
		t.Fatalf("status %d", status)
	}
	if got.URL.RawPath != "/files/caf%C3%A9%3B/~user/x%20y" || got.URL.Path != "/files/café;/~user/x y" || got.URL.EscapedPath() != got.URL.RawPath {
		t.Errorf("forwarded URL Path=%q RawPath=%q Escaped=%q", got.URL.Path, got.URL.RawPath, got.URL.EscapedPath())
	}
	if got.PathValue("name") != "café;" || got.PathValue("*") != "~user/x y" {
		t.Errorf("PathValue name=%q *=%q", got.PathValue("name"), got.PathValue("*"))
	}
	m, ok := FromContext(got.Context())
	if !ok || m.Name != "files" || m.Path != got.URL.RawPath || m.Params[0] != (Param{"name", "café;"}) {
		t.Errorf("FromContext = %+v, %v", m, ok)
	}
	if *in.URL != orig {
		t.Errorf("inbound URL modified: %+v", in.URL)
	}
}

func TestMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	tb := mustNew(t, []Rule{
		{Hosts: []string{"api.example.com"}, Path: "/v1/users", Methods: []string{"GET"}, Headers: []Predicate{{Name: "X-Canary", Op: Absent}}, Handler: named("a")},
		{Hosts: []string{"*.example.com"}, Path: "/v1/*", Handler: named("b")},
	}, Config{})
	for _, target := range []string{"http://api.example.com/v1/users", "http://www.example.com/v1/x"} {
		r := httptest.NewRequest("GET", target, nil)
		n := testing.AllocsPerRun(100, func() {
			if _, err := tb.Match(r); err != nil {
				t.Fatal(err)
			}
		})
		// The wildcard match allocates its one "*" parameter.
		if want := map[bool]float64{true: 0, false: 1}[strings.Contains(target, "users")]; n != want {
			t.Errorf("Match(%s) allocs = %v, want %v", target, n, want)
		}
	}
}
