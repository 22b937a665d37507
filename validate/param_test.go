package validate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const docParamArrays = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a/{ids}:
    get:
      parameters:
        - {name: ids, in: path, required: true, schema: {type: array, items: {type: integer}, maxItems: 3}}
        - {name: X-Tags, in: header, schema: {type: array, items: {type: string, maxLength: 2}}}
        - {name: X-Flags, in: header, explode: true, schema: {type: array, items: {type: boolean}}}
        - {name: c, in: cookie, explode: false, schema: {type: array, items: {type: number, minimum: 0}}}
      responses: {"200": {description: ok}}
`

// TestCompiledParamArraysOutsideTheQuery: arrays in paths, headers and
// cookies are decoded for the compiled check (comma-separated, a cookie
// read unexploded), which calls the usual valid values valid and never one
// kin-openapi rejects.
func TestCompiledParamArraysOutsideTheQuery(t *testing.T) {
	v := mustLoad(t, docParamArrays, Config{})
	cases := []struct {
		target, tags, flags, cookie string
		want                        bool // every parameter settled as valid by the compiled check
	}{
		{"/a/1,2", "ab,c", "true,false", "c=1,2.5", true},
		{"/a/1", "", "", "", true},
		{"/a/1,x", "", "", "", false},
		{"/a/1,2,3,4", "", "", "", false},
		{"/a/1", "abc", "", "", false},
		{"/a/1", "a,,b", "", "", false},
		{"/a/1", "", "yes", "", false},
		{"/a/1", "", "", "c=-1", false},
		{"/a/1", "", "", "c=1,x", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.tags != "" {
			r.Header.Set("X-Tags", tc.tags)
		}
		if tc.flags != "" {
			r.Header.Set("X-Flags", tc.flags)
		}
		if tc.cookie != "" {
			r.Header.Set("Cookie", tc.cookie)
		}
		m, err := v.find(r)
		if err != nil {
			t.Fatal(err)
		}
		got := true
		for _, p := range m.op.params {
			if p.compiled == nil {
				t.Fatalf("parameter %s was not compiled", p.Name)
			}
			if p.compiled.check(r, m.pathParams, nil) != valid {
				got = false
			}
		}
		if got != tc.want {
			t.Errorf("%s tags=%q flags=%q cookie=%q: compiled valid = %v, want %v", tc.target, tc.tags, tc.flags, tc.cookie, got, tc.want)
		}
		if kinErr := kin31(v, r, nil); got && kinErr != nil {
			t.Errorf("%s tags=%q flags=%q cookie=%q: compiled says valid, kin-openapi rejects: %v", tc.target, tc.tags, tc.flags, tc.cookie, kinErr)
		}
	}
}

// FuzzCompiledParamArraysAgreeWithKin: path, header and cookie arrays the
// compiled check calls valid are ones kin-openapi accepts.
func FuzzCompiledParamArraysAgreeWithKin(f *testing.F) {
	for _, s := range [][3]string{{"1,2", "ab,c", "1,2.5"}, {"1,x", "", ""}, {"1", "a,,b", "-1"}, {"%31", "a%2Cb", "1e2"}} {
		f.Add(s[0], s[1], s[2])
	}
	v := mustLoad(f, docParamArrays, Config{})
	f.Fuzz(func(t *testing.T, ids, tags, cookie string) {
		if strings.ContainsAny(ids, "/?#") || !validHeaderValue(tags) || !validHeaderValue(cookie) || strings.ContainsAny(cookie, ";\\") {
			return
		}
		build := func() *http.Request {
			r := httptest.NewRequest("GET", "/a/x", nil)
			r.URL.Path, r.URL.RawPath = "/a/"+ids, ""
			if tags != "" {
				r.Header.Set("X-Tags", tags)
			}
			if cookie != "" {
				r.Header.Set("Cookie", "c="+cookie)
			}
			return r
		}
		r := build()
		m, err := v.find(r)
		if err != nil || m.op == nil {
			return
		}
		for _, p := range m.op.params {
			if p.compiled.check(r, m.pathParams, nil) != valid {
				return
			}
		}
		if err := kin31(v, build(), nil); err != nil {
			t.Fatalf("ids=%q tags=%q cookie=%q: compiled says valid, kin-openapi rejects: %v", ids, tags, cookie, err)
		}
	})
}

// validHeaderValue reports whether s can be sent as a header value.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return true
}
