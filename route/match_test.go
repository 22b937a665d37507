package route

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
)

func TestMostSpecificPatternThenPriorityWins(t *testing.T) {
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

func TestUnservedRequestsGetTheirStatus(t *testing.T) {
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

func TestMatchDoesNotAllocate(t *testing.T) {
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

// byteSource turns fuzz input into small choices.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) pick(n int) int {
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i]) % n
	s.i++
	return v
}

type fuzzReq struct {
	method, host, path, key string
}

// genTable builds a random table and request from fuzz input.
func genTable(data []byte) ([]Rule, fuzzReq) {
	s := &byteSource{b: data}
	h := named("x")
	hosts := [][]string{nil, nil, {"a.test"}, {"*.test"}, {"*.b.test"}, {"a.test", "*.b.test"}}
	methods := [][]string{nil, nil, {"GET"}, {"POST"}, {"GET", "POST"}, {"FOO"}}
	segs := []string{"a", "b", "{p}", "{r}"}
	n := 1 + s.pick(8)
	rules := make([]Rule, n)
	for i := range rules {
		var sb strings.Builder
		for j := range 1 + s.pick(3) {
			seg := segs[s.pick(len(segs))]
			switch seg {
			case "{p}":
				seg = "{p" + strconv.Itoa(j) + "}"
			case "{r}":
				seg = "{p" + strconv.Itoa(j) + ":[ab]}"
			}
			sb.WriteString("/" + seg)
		}
		switch s.pick(4) {
		case 1:
			sb.WriteString("/*")
		case 2:
			sb.WriteString("/")
		}
		p := sb.String()
		if s.pick(6) == 0 {
			p = "/*"
		}
		rl := Rule{Hosts: hosts[s.pick(len(hosts))], Path: p, Methods: methods[s.pick(len(methods))], Priority: s.pick(3), Handler: h}
		switch s.pick(6) {
		case 4:
			rl.Body = []Predicate{{Name: "/k", Op: OneOf, Values: []string{"1", "3"}}}
		case 5:
			rl.Cookies = []Predicate{{Name: "k", Value: "2"}}
		case 1:
			rl.Headers = []Predicate{{Name: "X-K", Value: "1"}}
		case 2:
			rl.Headers = []Predicate{{Name: "X-K", Op: Present}}
		case 3:
			rl.Query = []Predicate{{Name: "k", Op: OneOf, Values: []string{"2", "3"}}}
		}
		rules[i] = rl
	}
	req := fuzzReq{
		method: []string{"GET", "POST", "PUT", "FOO", "get"}[s.pick(5)],
		host:   []string{"a.test", "x.b.test", "b.test", "c.other", "A.TEST:80"}[s.pick(5)],
		key:    []string{"", "1", "2", "3"}[s.pick(4)],
	}
	var pb strings.Builder
	for range s.pick(5) {
		pb.WriteString("/" + []string{"a", "b", "c", "a", "%61", ".."}[s.pick(6)])
	}
	if pb.Len() == 0 || s.pick(3) == 0 {
		pb.WriteString("/")
	}
	req.path = pb.String()
	return rules, req
}

// refMatch is a brute-force reference implementation of the documented
// precedence: it scans every rule and compares pattern specificity segment
// by segment, without chi.
func refMatch(rules []Rule, q fuzzReq) (int, int) {
	if checkMethod(q.method) != nil {
		return -1, 400
	}
	path, err := pathcanon.Path(q.path)
	if err != nil {
		return -1, 400
	}
	host := pathcanon.Host(q.host)
	var group []int
	for i, rl := range rules {
		if slices.Contains(rl.Hosts, host) {
			group = append(group, i)
		}
	}
	if group == nil {
		best := ""
		for _, rl := range rules {
			for _, h := range rl.Hosts {
				suf := strings.TrimPrefix(h, "*")
				if strings.HasPrefix(h, "*.") && strings.HasSuffix(host, suf) && len(host) > len(suf) && len(suf) > len(best) {
					best = suf
				}
			}
		}
		for i, rl := range rules {
			if best != "" && slices.Contains(rl.Hosts, "*"+best) {
				group = append(group, i)
			}
		}
	}
	if group == nil {
		for i, rl := range rules {
			if len(rl.Hosts) == 0 {
				group = append(group, i)
			}
		}
	}
	if group == nil {
		return -1, 421
	}
	// Every pattern of the host group that matches, most specific first.
	type pat struct {
		text string
		rank []int
	}
	var pats []pat
	for _, i := range group {
		p := rules[i].Path
		if rank, ok := refPattern(p, path); ok && !slices.ContainsFunc(pats, func(x pat) bool { return x.text == p }) {
			pats = append(pats, pat{p, rank})
		}
	}
	if pats == nil {
		return -1, 404
	}
	sort.Slice(pats, func(a, b int) bool {
		if c := slices.Compare(pats[a].rank, pats[b].rank); c != 0 {
			return c < 0
		}
		return pats[a].text < pats[b].text
	})
	spec := func(rl Rule) int {
		n := len(rl.Headers) + len(rl.Query) + len(rl.Cookies) + len(rl.Body)
		if len(rl.Methods) > 0 {
			n++
		}
		return n
	}
	methodOK := false
	for _, pt := range pats {
		var cands []int
		for _, i := range group {
			if rules[i].Path == pt.text {
				cands = append(cands, i)
			}
		}
		sort.SliceStable(cands, func(a, b int) bool {
			ra, rb := rules[cands[a]], rules[cands[b]]
			if ra.Priority != rb.Priority {
				return ra.Priority > rb.Priority
			}
			return spec(ra) > spec(rb)
		})
		for _, i := range cands {
			rl := rules[i]
			if len(rl.Methods) == 0 && !isStandardMethod(q.method) || len(rl.Methods) > 0 && !slices.Contains(rl.Methods, q.method) {
				continue
			}
			methodOK = true
			ok := true
			for _, p := range rl.Headers {
				if p.Op == Present && q.key == "" || p.Op == Equals && q.key != p.Value {
					ok = false
				}
			}
			for _, p := range rl.Query {
				if !slices.Contains(p.Values, q.key) {
					ok = false
				}
			}
			for _, p := range rl.Body {
				if !slices.Contains(p.Values, q.key) {
					ok = false
				}
			}
			for _, p := range rl.Cookies {
				if q.key != p.Value {
					ok = false
				}
			}
			if ok {
				return i, 200
			}
		}
	}
	if !methodOK {
		return -1, 405
	}
	return -1, 404
}

func FuzzTableMatch(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 0, 1, 0, 0, 0, 0, 2, 1, 0})
	f.Add([]byte{7, 2, 2, 0, 1, 0, 2, 1, 3, 1, 0, 1, 1, 2, 2, 0, 3, 2, 2, 1, 1, 0, 0, 1, 2, 3, 4, 1, 2, 0})
	f.Add([]byte("the quick brown fox jumps over the lazy dog"))
	f.Add([]byte{0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, q := genTable(data)
		tb, err := New(rules, Config{})
		if err != nil {
			t.Fatalf("New(%+v): %v", rules, err)
		}
		defer tb.Close()
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.Host, r.URL.RawPath = q.method, q.host, ""
		r.URL.Path = "/"
		if q.key != "" {
			r.Header.Set("X-K", q.key)
			r.Header.Set("Cookie", "k="+q.key)
			r.URL.RawQuery = "k=" + q.key
			r.Body = io.NopCloser(strings.NewReader(`{"k":"` + q.key + `"}`))
		}
		if err := setEscapedPath(r, q.path); err != nil {
			t.Skip()
		}
		m, err := tb.Match(r)
		got, gotStatus := m.Rule, 200
		if err != nil {
			got, gotStatus = -1, StatusOf(err)
		}
		want, wantStatus := refMatch(rules, q)
		if got != want || gotStatus != wantStatus {
			var sb strings.Builder
			for i, rl := range rules {
				sb.WriteString(strconv.Itoa(i) + ": " + rl.Path + " hosts=" + strings.Join(rl.Hosts, ",") + " methods=" + strings.Join(rl.Methods, ",") + " prio=" + strconv.Itoa(rl.Priority) + " hdr=" + strconv.Itoa(len(rl.Headers)) + " q=" + strconv.Itoa(len(rl.Query)) + " body=" + strconv.Itoa(len(rl.Body)) + " cookie=" + strconv.Itoa(len(rl.Cookies)) + "\n")
			}
			t.Fatalf("%s %s%s key=%q: table = rule %d status %d, reference = rule %d status %d\n%s", q.method, q.host, q.path, q.key, got, gotStatus, want, wantStatus, sb.String())
		}
	})
}

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
