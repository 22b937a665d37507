package route

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBodyPredicatesMatchJSONFields(t *testing.T) {
	rules := []Rule{
		{Name: "gold", Path: "/orders", Body: []Predicate{{Name: "/customer/tier", Value: "gold"}}, Handler: named("gold")},
		{Name: "region", Path: "/orders", Body: []Predicate{{Name: "/region", Op: OneOf, Values: []string{"eu", "uk"}}}, Handler: named("region")},
		{Name: "num", Path: "/orders", Body: []Predicate{{Name: "/qty", Value: "42"}}, Handler: named("num")},
		{Name: "bool", Path: "/orders", Body: []Predicate{{Name: "/rush", Value: "true"}}, Handler: named("bool")},
		{Name: "array", Path: "/orders", Body: []Predicate{{Name: "/items/1/sku", Op: Regex, Value: "^B-"}}, Handler: named("array")},
		{Name: "escaped", Path: "/orders", Body: []Predicate{{Name: "/a~1b/c~0d", Value: "x"}}, Handler: named("escaped")},
		{Name: "object", Path: "/orders", Body: []Predicate{{Name: "/meta", Op: Present}}, Handler: named("object")},
		{Name: "absent", Path: "/orders", Body: []Predicate{{Name: "/customer", Op: Absent}}, Handler: named("absent")},
		{Name: "default", Path: "/orders", Handler: named("default")},
	}
	tb := mustNew(t, rules, Config{MaxBodyInspect: 256, MaxJSONDepth: 8})
	deep := strings.Repeat(`{"a":`, 9) + "1" + strings.Repeat("}", 9)
	tests := []struct{ name, body, want string }{
		{"nested string", `{"customer":{"tier":"gold","id":1}}`, "gold"},
		{"one of", `{"customer":{"tier":"free"},"region":"uk"}`, "region"},
		{"number literal", `{"customer":{},"qty":42}`, "num"},
		{"number literal differs", `{"customer":{},"qty":42.0}`, "default"},
		{"bool", `{"customer":{},"rush":true}`, "bool"},
		{"array index", `{"customer":{},"items":[{"sku":"A-1"},{"sku":"B-2"}]}`, "array"},
		{"pointer escapes", `{"customer":{},"a/b":{"c~d":"x"}}`, "escaped"},
		{"object present", `{"customer":{},"meta":{"k":[1,2]}}`, "object"},
		{"absent", `{"other":1}`, "absent"},
		{"string value is not number", `{"customer":{},"qty":"42"}`, "num"},
		{"duplicate key", `{"customer":{"tier":"gold","tier":"free"}}`, "default"},
		{"case-variant key", `{"customer":{"tier":"gold","TIER":"free"}}`, "default"},
		{"duplicate elsewhere is fine", `{"customer":{"tier":"gold"},"x":1,"x":2}`, "gold"},
		{"invalid JSON", `{"customer":{"tier":"gold"}`, "default"},
		{"trailing data", `{"customer":{"tier":"gold"}} {}`, "default"},
		{"too deep", `{"customer":{"tier":"gold"},"d":` + deep + `}`, "default"},
		{"too large", `{"customer":{"tier":"gold"},"pad":"` + strings.Repeat("x", 300) + `"}`, "default"},
		{"empty", ``, "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/orders", strings.NewReader(tc.body))
			rec := httptest.NewRecorder()
			tb.ServeHTTP(rec, r)
			if rec.Body.String() != tc.want {
				t.Fatalf("POST %s = %q, want %q", tc.body, rec.Body.String(), tc.want)
			}
		})
	}
	// "string value is not number": "42" as a JSON string equals Value "42"
	// too; that is the documented comparison (decoded string vs literal).
}

// TestBodyRestored proves the next handler receives the same bytes and the
// same ContentLength, for bodies under, at and over the inspection limit,
// with and without a known length, and that read errors are preserved.
func TestBodyRestoredByteForByte(t *testing.T) {
	type seen struct {
		body   []byte
		length int64
		err    error
		replay []byte
	}
	var got seen
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got = seen{body: b, length: r.ContentLength, err: err}
		if r.GetBody != nil {
			rc, _ := r.GetBody()
			got.replay, _ = io.ReadAll(rc)
		}
	})
	tb := mustNew(t, []Rule{
		{Path: "/", Methods: []string{"POST"}, Body: []Predicate{{Name: "/k", Value: "v"}}, Handler: rec},
		{Path: "/", Methods: []string{"POST"}, Handler: rec},
	}, Config{MaxBodyInspect: 64})
	big := `{"k":"v","pad":"` + strings.Repeat("y", 200) + `"}`
	tests := []struct {
		name    string
		body    string
		chunked bool
	}{
		{"small", `{"k":"v"}`, false},
		{"small chunked", `{"k":"v"}`, true},
		{"exactly limit", `{"k":"v","p":"` + strings.Repeat("z", 64-15) + `"}`, false},
		{"over limit", big, false},
		{"over limit chunked", big, true},
		{"not JSON binary", "\x00\x01\xff\xfe", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = seen{}
			var rd io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length from NewRequest
			}
			r := httptest.NewRequest("POST", "/", rd)
			if tc.chunked {
				r.ContentLength = -1
			}
			wantLen := r.ContentLength
			tb.ServeHTTP(httptest.NewRecorder(), r)
			if !bytes.Equal(got.body, []byte(tc.body)) || got.err != nil {
				t.Fatalf("handler read %q, %v; want %q", got.body, got.err, tc.body)
			}
			if got.length != wantLen {
				t.Errorf("ContentLength = %d, want %d", got.length, wantLen)
			}
			if got.replay != nil && !bytes.Equal(got.replay, []byte(tc.body)) {
				t.Errorf("GetBody replayed %q", got.replay)
			}
		})
	}
	t.Run("read error preserved", func(t *testing.T) {
		got = seen{}
		r := httptest.NewRequest("POST", "/", iotest.TimeoutReader(strings.NewReader(`{"k":"v"}`)))
		r.ContentLength = -1
		tb.ServeHTTP(httptest.NewRecorder(), r)
		if got.err == nil || string(got.body) != `{"k":"v"}` {
			t.Fatalf("handler read %q, %v; want the prefix and the read error", got.body, got.err)
		}
	})
	t.Run("engine Match restores r.Body", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(`{"k":"v"}`))
		m, err := tb.Match(r)
		if err != nil || m.Rule != 0 {
			t.Fatalf("Match = %+v, %v", m, err)
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"k":"v"}` || r.ContentLength != 9 {
			t.Fatalf("after Match body %q length %d", b, r.ContentLength)
		}
	})
}
