package route

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
)

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
		c, err := pathcanon.Path(path)
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
