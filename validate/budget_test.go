package validate

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

const docBudget = `openapi: 3.0.3
info: {title: budget, version: "1"}
paths:
  /shapes:
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: array
              items:
                oneOf:
                  - {type: object, required: [a], properties: {a: {type: integer}}}
                  - {type: object, required: [b], properties: {b: {type: integer}}}
                  - {type: object, required: [c], properties: {c: {type: integer}}}
                  - {type: object, required: [d], properties: {d: {type: integer}}}
      responses: {"200": {description: ok}}
`

// TestValidationBudget: a body whose checking would take more than
// MaxValidationWork units is answered 413 before any schema work; within
// it, the body is validated as usual, and the estimate never refuses a
// body that is small for its schema.
func TestValidationBudget(t *testing.T) {
	items := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"a":1},`, n), ",") + "]"
	}
	for _, tc := range []struct {
		budget int64
		body   string
		status int // 0: accepted
	}{
		{0, items(1000), 0},
		{1000, items(10), 0},
		{1000, items(300), 413},
		{1000, `[{"a":"x"}]`, 400},
	} {
		v := mustLoad(t, docBudget, Config{MaxValidationWork: tc.budget})
		r := httptest.NewRequest("POST", "/shapes", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		_, err := v.ValidateRequest(r, []byte(tc.body))
		var e *Error
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("budget %d, %d bytes: %v, want accepted", tc.budget, len(tc.body), err)
		case tc.status != 0 && (!errors.As(err, &e) || e.Status != tc.status):
			t.Errorf("budget %d, %d bytes: %v, want %d", tc.budget, len(tc.body), err, tc.status)
		case tc.status == 413 && !errors.Is(err, ErrTooLarge):
			t.Errorf("budget %d: %v is not ErrTooLarge", tc.budget, err)
		}
	}
	if _, err := Load([]byte(docBudget), Config{MaxValidationWork: -1}); err == nil {
		t.Error("a negative MaxValidationWork was accepted")
	}
}

// TestFanout checks the fan-out of schemas: each branch of a union is one
// more schema a value is checked against (a oneOf or anyOf branch two:
// kin-openapi checks the one that matched again), and unions nest by
// product.
func TestFanout(t *testing.T) {
	v := mustLoad(t, docBudget, Config{})
	op := v.ops.root.static["shapes"].entry.methods["POST"]
	media := op.body.Content.Get(jsonCT)
	if got := op.fanout[media]; got != 9 {
		t.Errorf("fan-out of an array of a 4-branch oneOf = %d, want 9", got)
	}
}

// BenchmarkMeter measures metering a body that its size and the schema's
// fan-out do not decide: 1,000 items under a 4-branch oneOf.
func BenchmarkMeter(b *testing.B) {
	v := mustLoad(b, docBudget, Config{})
	op := v.ops.root.static["shapes"].entry.methods["POST"]
	s := op.body.Content.Get(jsonCT).Schema.Value
	val, err := parseJSON([]byte("["+strings.TrimSuffix(strings.Repeat(`{"a":1},`, 1000), ",")+"]"), JSONLimits{}.withDefaults())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		left := int64(1_000_000)
		meter(val, s, &left, 0)
	}
}

const docRecursiveUnion = `openapi: 3.0.3
info: {title: recursion, version: "1"}
paths:
  /nodes:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Node"}
      responses: {"200": {description: ok}}
  /trees:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Tree"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Node:
      oneOf:
        - {type: object, properties: {c: {$ref: "#/components/schemas/Node"}}, required: [a]}
        - {type: object, properties: {c: {$ref: "#/components/schemas/Node"}}, required: [b]}
    Tree:
      type: object
      properties:
        kids: {type: array, items: {$ref: "#/components/schemas/Tree"}}
        v: {oneOf: [{type: string}, {type: integer}]}
`

// docRecursionFoundLate: Y, P, Q and R reach each other; only R has a
// union, and the walk may come to it after Q (and the cycle through P) is
// done, or start from Q.
const docRecursionFoundLate = `openapi: 3.0.3
info: {title: recursion, version: "1"}
paths:
  /y:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Y"}
      responses: {"200": {description: ok}}
  /q:
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Q"}
      responses: {"200": {description: ok}}
components:
  schemas:
    Y: {type: object, properties: {p: {$ref: "#/components/schemas/P"}, r: {$ref: "#/components/schemas/R"}}}
    P: {type: object, properties: {q: {$ref: "#/components/schemas/Q"}}}
    Q: {type: object, properties: {y: {$ref: "#/components/schemas/Y"}}}
    R:
      oneOf:
        - {type: object, properties: {q: {$ref: "#/components/schemas/Q"}}}
        - {type: object, properties: {q2: {$ref: "#/components/schemas/Q"}}}
`

// TestFanoutOfRecursionThroughUnions: a schema that recurses through a
// union checks a value at depth d against 2^d schemas; its fan-out is
// unbounded, so that its bodies are metered and a deep one is answered
// 413 at once, while a recursion without a union keeps a small fan-out.
func TestFanoutOfRecursionThroughUnions(t *testing.T) {
	v := mustLoad(t, docRecursiveUnion, Config{})
	fan := func(path string) int64 {
		op := v.ops.root.static[path].entry.methods["POST"]
		return op.fanout[op.body.Content.Get(jsonCT)]
	}
	if got := fan("nodes"); got != maxFanout {
		t.Errorf("fan-out of a recursion through a oneOf = %d, want maxFanout", got)
	}
	if got := fan("trees"); got != 5 {
		t.Errorf("fan-out of a recursion through properties and items = %d, want 5", got)
	}
	// However the walk meets the union of a recursion, every schema of it
	// is unbounded (map order varies the walk: load a few times).
	for range 8 {
		late := mustLoad(t, docRecursionFoundLate, Config{})
		for _, path := range []string{"y", "q"} {
			op := late.ops.root.static[path].entry.methods["POST"]
			if got := op.fanout[op.body.Content.Get(jsonCT)]; got != maxFanout {
				t.Fatalf("/%s: fan-out of a schema whose recursion passes through a oneOf = %d, want maxFanout", path, got)
			}
		}
	}
	nested := func(d int) string {
		return strings.Repeat(`{"a":1,"c":`, d) + `{"a":1}` + strings.Repeat("}", d)
	}
	for _, tc := range []struct {
		depth  int
		status int // 0: accepted
	}{{3, 0}, {40, 413}} {
		body := nested(tc.depth)
		r := httptest.NewRequest("POST", "/nodes", strings.NewReader(body))
		r.Header.Set("Content-Type", jsonCT)
		_, err := v.ValidateRequest(r, []byte(body))
		var e *Error
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("depth %d: %v, want accepted", tc.depth, err)
		case tc.status != 0 && (!errors.As(err, &e) || e.Status != tc.status):
			t.Errorf("depth %d: %v, want %d", tc.depth, err, tc.status)
		}
	}
}

const docFanoutCases = `openapi: 3.1.0
info: {title: fanout, version: "1"}
paths: {}
components:
  schemas:
    A: {type: object, properties: {b: {$ref: "#/components/schemas/B"}, c: {$ref: "#/components/schemas/C"}}}
    B: {type: object, properties: {a: {$ref: "#/components/schemas/A"}}}
    C: {type: object, properties: {u: {$ref: "#/components/schemas/U"}}}
    U: {oneOf: [{type: string}, {type: integer}, {type: boolean}, {type: array}, {type: "null"}]}
    Any: {anyOf: [{type: object}]}
    One: {oneOf: [{type: object}]}
    OneChain: {properties: {b: {type: integer}}, oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{oneOf: [{type: object, properties: {a: {type: integer}}}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}
    Pattern: {type: object, properties: {a: {$ref: "#/components/schemas/Pattern"}}, patternProperties: {"^a$": {$ref: "#/components/schemas/Pattern"}}}
    Chain: {allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{allOf: [{type: object}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}
`

// TestFanoutCases: the fan-outs a review found wrong. Every schema of a
// group that reaches each other gets the group's fan-out, whatever order
// the walk took (B reaches U through A and C); anyOf counts twice
// (kin-openapi checks the matching branch again); a recursion through
// patternProperties, which checks a member against two schemas, is
// unbounded; a union chain deeper than the walk follows is unbounded
// rather than cut short.
func TestFanoutCases(t *testing.T) {
	for range 8 {
		v := mustLoad(t, docFanoutCases, Config{})
		memo := map[*openapi3.Schema]int64{}
		of := func(name string) int64 { return fanout(v.doc.Components.Schemas[name].Value, memo) }
		a := of("A")
		if b := of("B"); a != 11 || b != 11 {
			t.Fatalf("fan-outs of A and B = %d and %d, want 11 (U's oneOf of 5, under both)", a, b)
		}
		// A oneOf nested 20 deep: kin-openapi checks the matching branch
		// twice at each level, 2^20 visits.
		for name, want := range map[string]int64{"Any": 3, "One": 3, "Pattern": maxFanout, "Chain": maxFanout, "OneChain": maxFanout} {
			if got := of(name); got != want {
				t.Errorf("fan-out of %s = %d, want %d", name, got, want)
			}
		}
	}
}

// TestMeterChargesDepthAndCopies: metering a body deeper than it follows
// is over budget rather than uncounted, and each oneOf branch is charged
// the size of the value kin-openapi copies for it.
func TestMeterChargesDepthAndCopies(t *testing.T) {
	deep := &openapi3.Schema{}
	deep.Properties = openapi3.Schemas{"c": {Value: deep}}
	var val any = map[string]any{}
	for range 600 {
		val = map[string]any{"c": val}
	}
	left := int64(1 << 40)
	meter(val, deep, &left, 0)
	if left >= 0 {
		t.Errorf("a body nested 600 deep metered within budget (%d left)", left)
	}
	branchy := &openapi3.Schema{OneOf: openapi3.SchemaRefs{{Value: &openapi3.Schema{}}, {Value: &openapi3.Schema{}}}}
	items := make([]any, 1000)
	left = 1 << 40
	meter(items, branchy, &left, 0)
	if used := int64(1<<40) - left; used < 2*1001 {
		t.Errorf("a oneOf of 2 over 1,001 values charged %d units, want at least 2,002 (one copy per branch)", used)
	}
}
