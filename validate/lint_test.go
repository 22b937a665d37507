package validate

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// docProblems has problems in two operations, a component and an
// example: an undeclared path parameter, a pattern ECMA-262 refuses and an
// example that does not match its schema.
const docProblems = `openapi: 3.0.3
info: {title: problems, version: "1"}
paths:
  /a/{id}:
    get:
      responses: {"200": {description: ok}}
  /b:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {code: {type: string, pattern: "(?<=x"}}}
      responses: {"200": {description: ok}}
  /c:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/C"}
            example: {n: "not a number"}
      responses: {"200": {description: ok}}
components:
  schemas:
    C: {type: object, properties: {n: {type: integer}}, required: [n]}
    D: {type: array, items: {type: string, pattern: "[unclosed"}}
`

// TestLoadReportsEveryProblem: every problem is listed at once, one line
// each with its JSON pointer and no schema dump; the example only in
// strict mode.
func TestLoadReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		strict bool
		want   []string
	}{
		{false, []string{"/components/schemas/D", "/paths/~1a~1{id}/get", "/paths/~1b/post"}},
		{true, []string{"/components/schemas/D", "/paths/~1a~1{id}/get", "/paths/~1b/post", "/paths/~1c/post"}},
	} {
		_, err := Load([]byte(docProblems), Config{Strict: tc.strict})
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("strict=%v: Load = %v, want a *LoadError", tc.strict, err)
		}
		var got []string
		for _, p := range le.Problems {
			if strings.Contains(p.Reason, "\n") || strings.Contains(p.Reason, "Schema:") || p.Reason == "" || len(p.Reason) > 300 {
				t.Errorf("strict=%v: reason %q is not one short line", tc.strict, p.Reason)
			}
			if len(got) == 0 || got[len(got)-1] != p.Pointer {
				got = append(got, p.Pointer)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("strict=%v: problems at %q, want %q\n%v", tc.strict, got, tc.want, err)
		}
		if n := strings.Count(err.Error(), "\n"); n != len(le.Problems) {
			t.Errorf("strict=%v: error has %d lines after the first, want %d", tc.strict, n, len(le.Problems))
		}
	}
}

// docHarmless has only problems that never change a verdict: a default
// and an example that do not match, a 3.0 boolean exclusiveMinimum in a
// 3.1 document and a name listed twice in required.
const docHarmless = `openapi: 3.1.0
info: {title: harmless, version: "1"}
paths:
  /n:
    get:
      parameters:
        - {name: n, in: query, schema: {type: integer, minimum: 0, exclusiveMinimum: true, default: "x"}}
      responses: {"200": {description: ok}}
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [id, id], properties: {id: {type: string}}}
            example: {id: 5}
      responses: {"200": {description: ok}}
`

// TestLenientLoadWarns: by default a document whose problems never change
// a verdict loads, with the version mixing listed as warnings, and the
// boolean exclusiveMinimum still applies; Strict refuses it.
func TestLenientLoadWarns(t *testing.T) {
	v, err := Load([]byte(docHarmless), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Warnings()) != 2 {
		t.Errorf("Warnings() = %v, want the exclusiveMinimum and the duplicate required", v.Warnings())
	}
	for q, want := range map[string]bool{"/n?n=1": true, "/n?n=0": false, "/n?n=-1": false} {
		_, err := v.ValidateRequest(httptest.NewRequest("GET", q, nil), nil)
		if got := err == nil; got != want {
			t.Errorf("GET %s accepted = %v, want %v (%v)", q, got, want, err)
		}
	}
	if _, err := Load([]byte(docHarmless), Config{Strict: true}); err == nil {
		t.Error("Strict loaded a document with a mismatching example and default")
	}
}

// TestSkipBrokenOperations: with SkipBrokenOperations the broken
// operations are listed with their reasons and pass unvalidated; the
// others are validated.
func TestSkipBrokenOperations(t *testing.T) {
	v, err := Load([]byte(docProblems), Config{SkipBrokenOperations: true})
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, p := range v.Skipped() {
		ops = append(ops, p.Pointer)
	}
	if want := "/paths/~1a~1{id}/get /paths/~1b/post"; strings.Join(ops, " ") != want {
		t.Errorf("Skipped() at %q, want %q", ops, want)
	}
	for _, tc := range []struct {
		method, target, body string
		ok                   bool
	}{
		{"GET", "/a/1", "", true},
		{"POST", "/b", `{"code":5}`, true},
		{"POST", "/c", `{"n":1}`, true},
		{"POST", "/c", `{"n":"x"}`, false},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		_, err := v.ValidateRequest(r, []byte(tc.body))
		if got := err == nil; got != tc.ok {
			t.Errorf("%s %s %s accepted = %v, want %v (%v)", tc.method, tc.target, tc.body, got, tc.ok, err)
		}
	}
}

// TestRejectSkippedOperations: with RejectSkippedOperations a request to
// a skipped operation gets 500 problem+json through the middleware, its
// body unread, and the other operations are validated as before.
func TestRejectSkippedOperations(t *testing.T) {
	v, err := Load([]byte(docProblems), Config{SkipBrokenOperations: true, RejectSkippedOperations: true})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	for _, tc := range []struct {
		method, target, body string
		status               int
	}{
		{"GET", "/a/1", "", http.StatusInternalServerError},
		{"POST", "/b", `{"code":5}`, http.StatusInternalServerError},
		{"POST", "/c", `{"n":1}`, http.StatusOK},
		{"POST", "/c", `{"n":"x"}`, http.StatusBadRequest},
	} {
		body := &countingReader{} // an endless body: must not be read for a skipped operation
		var rd io.Reader = strings.NewReader(tc.body)
		if tc.status == http.StatusInternalServerError {
			rd = body
		}
		r := httptest.NewRequest(tc.method, tc.target, rd)
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, rec.Code, tc.status)
		}
		if tc.status == http.StatusInternalServerError {
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: Content-Type %q, want problem+json", tc.method, tc.target, ct)
			}
			if body.n > 0 {
				t.Errorf("%s %s: %d body bytes read, want none", tc.method, tc.target, body.n)
			}
		}
	}
	if reached != 1 {
		t.Errorf("the next handler was reached %d times, want 1", reached)
	}
}

// TestLenienceByProblemClass: each class of problem that never changes a
// verdict loads by default (listed in Warnings, or for examples and
// defaults not checked at all) and is refused in Strict, with one problem
// at the operation's pointer; a problem that does change verdicts (an
// unknown parameter location) is refused either way.
func TestLenienceByProblemClass(t *testing.T) {
	const head = "openapi: %s\ninfo: {title: t, version: \"1\"}\npaths:\n  /p:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: %s\n      responses: {\"200\": {description: ok}}\n"
	cases := []struct {
		name, version, schema string
		warnings              int // -1: refused even when lenient
	}{
		{"unknown sibling keyword", "3.1.0", `{type: object, $recursiveRef: "#", properties: {a: {type: string}}}`, 1},
		{"boolean exclusiveMinimum in 3.1", "3.1.0", `{type: integer, minimum: 0, exclusiveMinimum: true}`, 1},
		{"array without items", "3.0.3", `{type: array}`, 1},
		{"name twice in required", "3.0.3", `{type: object, required: [a, a], properties: {a: {type: string}}}`, 1},
		{"example that does not match", "3.0.3", `{type: integer, example: "x"}`, 0},
		{"default that does not match", "3.0.3", `{type: integer, default: "x"}`, 0},
		{"unsupported type", "3.0.3", `{type: strong}`, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(fmt.Sprintf(head, tc.version, tc.schema))
			v, err := Load(doc, Config{})
			switch {
			case tc.warnings < 0 && err == nil:
				t.Fatalf("loaded, want refused")
			case tc.warnings < 0:
			case err != nil:
				t.Fatalf("refused: %v", err)
			case len(v.Warnings()) != tc.warnings:
				t.Errorf("Warnings() = %v, want %d", v.Warnings(), tc.warnings)
			}
			_, err = Load(doc, Config{Strict: true})
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].Pointer != "/paths/~1p/post" {
				t.Errorf("Strict: %v, want one problem at /paths/~1p/post", err)
			}
		})
	}
}
