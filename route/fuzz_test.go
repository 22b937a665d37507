package route

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

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
	path, err := CanonicalPath(q.path)
	if err != nil {
		return -1, 400
	}
	host := CanonicalHost(q.host)
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

// refPattern matches a pattern of whole static, {param} and trailing *
// segments against a path, returning the per-segment kinds (0 static,
// 1 regexp parameter, 2 parameter, 3 wildcard) whose lexicographic order is the specificity.
func refPattern(pattern, path string) ([]int, bool) {
	ps := strings.Split(pattern[1:], "/")
	xs := strings.Split(path[1:], "/")
	var rank []int
	for i, seg := range ps {
		if seg == "*" && i == len(ps)-1 {
			return append(rank, 3), i < len(xs) // "/a/*" needs "/a/"
		}
		if i >= len(xs) {
			return nil, false
		}
		if strings.HasSuffix(seg, ":[ab]}") {
			if xs[i] != "a" && xs[i] != "b" {
				return nil, false
			}
			rank = append(rank, 1)
		} else if strings.HasPrefix(seg, "{") {
			if xs[i] == "" {
				return nil, false
			}
			rank = append(rank, 2)
		} else if seg != xs[i] {
			return nil, false
		} else {
			rank = append(rank, 0)
		}
	}
	return rank, len(xs) == len(ps)
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

// setEscapedPath sets r.URL from an escaped path as net/http would parse it.
func setEscapedPath(r *http.Request, p string) error {
	u, err := url.ParseRequestURI(p)
	if err != nil {
		return err
	}
	u.RawQuery = r.URL.RawQuery
	r.URL = u
	return nil
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"/", "/users/{id}", "/static/*", "/{bad", "", "/a/{id:[0-9]{2}}/b", "/a*/b", "/x/{a}/{a}", "/%7e"} {
		f.Add(s, "/users/12")
	}
	f.Fuzz(func(t *testing.T, s, path string) {
		p, err := parsePattern(s)
		if err != nil {
			return // rejecting input is fine; panicking is not
		}
		if q, err := ParsePattern(p.text); err != nil || q != s {
			t.Fatalf("round trip %q -> %q, %v", s, q, err)
		}
		// chi accepts every pattern we accept, and agrees on matching.
		tb, err := New([]Rule{{Path: s, Handler: named("x")}}, Config{})
		if err != nil {
			t.Fatalf("ParsePattern accepted %q but New failed: %v", s, err)
		}
		defer tb.Close()
		c, err := CanonicalPath(path)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		if setEscapedPath(r, c) != nil {
			return
		}
		_, merr := tb.Match(r)
		if _, ok := p.match(c, nil); ok != (merr == nil) {
			t.Fatalf("pattern %q path %q: own matcher %v, chi %v", s, c, ok, merr)
		}
	})
}
