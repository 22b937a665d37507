package validate

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/dlclark/regexp2/v2"
)

// ecmaMatch is the reference: regexp2 in ECMAScript mode.
func ecmaMatch(t testing.TB, expr, s string) (bool, bool) {
	re, err := regexp2.Compile(expr, regexp2.ECMAScript)
	if err != nil {
		return false, false
	}
	ok, err := re.MatchString(s)
	return ok, err == nil
}

// TestPatternsMatchAsECMA262 checks patterns that Go's regexp refuses or
// reads differently: each matches what ECMA-262 says, whichever engine
// runs it.
func TestPatternsMatchAsECMA262(t *testing.T) {
	cases := []struct {
		expr, s string
		want    bool
		re2     bool // expected to run on Go's regexp
	}{
		{`^(?!admin$)[a-z]+$`, "admin", false, false},
		{`^(?!admin$)[a-z]+$`, "adminx", true, false},
		{`^(\w)\1$`, "aa", true, false},
		{`^.$`, "\r", false, true},
		{`^.$`, "\u2028", false, true},
		{`^.$`, "é", true, true},
		{`^\s$`, "\u00a0", true, true},
		{`^[\s]$`, "\u3000", true, true},
		{`^\S$`, "\u00a0", false, true},
		{`^\u00e9$`, "é", true, true},
		{`^\x41$`, "A", true, true},
		{`^\w+$`, "é", false, true},
		{`^\d$`, "٣", false, true},
		{`^\A$`, "A", true, false},
		{`^\p$`, "p", true, false},
		{`^[[:alpha:]]$`, "a", false, false},
		{`^[^]$`, "\n", true, false},
		{`^[0-9]{3}-[0-9]{4}$`, "555-1234", true, true},
		{`^a{,2}$`, "a{,2}", true, true},
		{`(?<year>\d{4})`, "2024", true, false},
	}
	for _, tc := range cases {
		m, err := compilePattern(tc.expr)
		if err != nil {
			if _, ok := ecmaMatch(t, tc.expr, tc.s); ok {
				t.Errorf("compilePattern(%q): %v, but ECMA-262 accepts it", tc.expr, err)
			}
			continue
		}
		if got := m.MatchString(tc.s); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.expr, tc.s, got, tc.want)
		}
		if _, isRE2 := m.(*regexp.Regexp); isRE2 != tc.re2 {
			t.Errorf("%q runs on Go's regexp = %v, want %v", tc.expr, isRE2, tc.re2)
		}
	}
}

// TestPatternTimeoutRejects: a catastrophic backtracking pattern on a
// hostile input stops at patternTimeout and counts as a mismatch.
func TestPatternTimeoutRejects(t *testing.T) {
	m, err := compilePattern(`^(a+)+\1$`)
	if err != nil {
		t.Fatal(err)
	}
	s := ""
	for range 40 {
		s += "a"
	}
	if m.MatchString(s + "!") {
		t.Fatal("a hostile input matched")
	}
}

// FuzzPatternRE2Equivalent: whenever a pattern runs on Go's regexp, it
// matches exactly what regexp2 in ECMAScript mode matches.
func FuzzPatternRE2Equivalent(f *testing.F) {
	for _, s := range []string{`^.$`, `\s+`, `[\s\d]`, `\S`, `^\u00e9`, `[^a-z]`, `a|b`, `(?:ab)+`, `\.\*`, `[.]`, `\bword\b`} {
		f.Add(s, "a \u00a0\r\n\u2028é.*word")
	}
	f.Fuzz(func(t *testing.T, expr, s string) {
		re2, ok := re2Equivalent(expr)
		if !ok {
			return
		}
		re, err := regexp.Compile(re2)
		if err != nil {
			return
		}
		want, ok := ecmaMatch(t, expr, s)
		if !ok {
			return // ECMA-262 refuses the pattern or the match timed out
		}
		if got := re.MatchString(s); got != want {
			t.Fatalf("%q (as %q) matches %q = %v, ECMA-262 says %v", expr, re2, s, got, want)
		}
	})
}

// TestDocumentPatternsAreECMA262: a pattern with a lookahead, which Go's
// regexp refuses, loads and applies to parameters and bodies.
func TestDocumentPatternsAreECMA262(t *testing.T) {
	const doc = `openapi: 3.0.3
info: {title: patterns, version: "1"}
paths:
  /users:
    post:
      parameters:
        - {name: team, in: query, schema: {type: string, pattern: "^(?!root$)[a-z]+$"}}
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {name: {type: string, pattern: "^(?!admin$)[a-z]+$"}}}
      responses: {"200": {description: ok}}
`
	v, err := Load([]byte(doc), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target, body string
		ok           bool
	}{
		{"/users?team=dev", `{"name":"bob"}`, true},
		{"/users?team=root", `{"name":"bob"}`, false},
		{"/users?team=dev", `{"name":"admin"}`, false},
		{"/users?team=dev", `{"name":"Bob"}`, false},
	} {
		r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		_, err := v.ValidateRequest(r, []byte(tc.body))
		if got := err == nil; got != tc.ok {
			t.Errorf("POST %s %s accepted = %v, want %v (%v)", tc.target, tc.body, got, tc.ok, err)
		}
	}
}
