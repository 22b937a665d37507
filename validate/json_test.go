package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseJSON(t *testing.T) {
	lim := JSONLimits{}.withDefaults()
	tests := []struct {
		name   string
		in     string
		reason string // "" means accepted
		ptr    string
	}{
		{"object", `{"a":[1,2.5,-3e2,true,false,null,"x"],"b":{}}`, "", ""},
		{"escapes", `"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, "", ""},
		{"utf8", `"héllo 世界"`, "", ""},
		{"whitespace", " \t\n\r[ 1 , 2 ]\n", "", ""},
		{"duplicate key", `{"role":"user","role":"admin"}`, "duplicate key", "/role"},
		{"case variant", `{"role":"user","ROLE":"admin"}`, "duplicate key differing only in case", "/ROLE"},
		{"unicode case variant", `{"straße":1,"STRASSE":2,"ſ":1,"S":2}`, "duplicate key differing only in case", "/S"},
		{"kelvin sign", `{"k":1,"\u212a":2}`, "duplicate key differing only in case", "/\u212a"},
		{"nested duplicate", `{"a":[{"x":1},{"x":1,"x":2}]}`, "duplicate key", "/a/1/x"},
		{"many keys case variant", `{` + manyKeys(40) + `,"K39":1}`, "duplicate key differing only in case", "/K39"},
		{"eighth key case variant of the first", `{` + manyKeys(7) + `,"K0":1}`, "duplicate key differing only in case", "/K0"},
		{"ninth key case variant of the eighth", `{` + manyKeys(8) + `,"K7":1}`, "duplicate key differing only in case", "/K7"},
		{"tenth key case variant of the ninth", `{` + manyKeys(9) + `,"K8":1}`, "duplicate key differing only in case", "/K8"},
		{"eighth key duplicate of the seventh", `{` + manyKeys(7) + `,"k6":1}`, "duplicate key", "/k6"},
		{"ninth key duplicate of the first", `{` + manyKeys(8) + `,"k0":1}`, "duplicate key", "/k0"},
		{"invalid utf8", "\"a\xffb\"", "invalid UTF-8", ""},
		{"invalid utf8 escaped string", "\"\\n\xc3\"", "invalid UTF-8", ""},
		{"lone high surrogate", `"\ud800"`, "lone surrogate in \\u escape", ""},
		{"lone low surrogate", `"\udc00x"`, "lone surrogate in \\u escape", ""},
		{"high then non-low", `"\ud800\u0041"`, "lone surrogate in \\u escape", ""},
		{"huge number", `1e400`, "number out of range", ""},
		{"long integer", strings.Repeat("9", 400), "number out of range", ""},
		{"depth", strings.Repeat("[", 65) + strings.Repeat("]", 65), "nesting deeper than 64", ""},
		{"depth ok", strings.Repeat("[", 64) + strings.Repeat("]", 64), "", ""},
		{"unclosed brackets", strings.Repeat("[", 100000), "nesting deeper than 64", ""},
		{"array members", "[" + strings.Repeat("0,", 10000) + "0]", "array has more than 10000 elements", ""},
		{"object members", "{" + manyKeys(10001) + "}", "object has more than 10000 members", ""},
		{"long string", `"` + strings.Repeat("a", 1<<20+1) + `"`, "string longer than 1048576 bytes", ""},
		{"long escaped string", `"\n` + strings.Repeat("a", 1<<20+1) + `"`, "string longer than 1048576 bytes", ""},
		{"trailing data", `{} {}`, "malformed", ""},
		{"trailing comma", `[1,]`, "malformed", ""},
		{"leading zero", `01`, "malformed", ""},
		{"bare minus", `-`, "malformed", ""},
		{"control char", "\"a\x01\"", "malformed", ""},
		{"bad escape", `"\x"`, "malformed", ""},
		{"single quotes", `{'a':1}`, "malformed", ""},
		{"empty", ``, "malformed", ""},
		{"nul literal", `nul`, "malformed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseJSON([]byte(tc.in), lim)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("parseJSON = %v, want accepted", err)
				}
				var want any
				d := json.NewDecoder(strings.NewReader(tc.in))
				d.UseNumber()
				if err := d.Decode(&want); err != nil {
					t.Fatalf("encoding/json rejects accepted input: %v", err)
				}
				if !reflect.DeepEqual(v, want) {
					t.Fatalf("parseJSON = %#v, encoding/json = %#v", v, want)
				}
				return
			}
			je, ok := err.(*jsonError)
			if !ok {
				t.Fatalf("parseJSON = %v, want rejection %q", err, tc.reason)
			}
			if !strings.HasPrefix(je.reason, tc.reason) {
				t.Errorf("reason = %q, want prefix %q", je.reason, tc.reason)
			}
			if tc.ptr != "" && je.pointer() != tc.ptr {
				t.Errorf("pointer = %q, want %q", je.pointer(), tc.ptr)
			}
			if len(je.reason) > 200 {
				t.Errorf("reason is %d bytes long", len(je.reason))
			}
		})
	}
}

func manyKeys(n int) string {
	var b bytes.Buffer
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + itoa(i) + `":1`)
	}
	return b.String()
}

func itoa(i int) string { return strings.TrimSpace(string(json.Number(jsonInt(i)))) }

func jsonInt(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestFoldKey(t *testing.T) {
	pairs := [][2]string{{"Role", "rOLE"}, {"straße", "STRASSE"}, {"ſ", "S"}, {"\u212a", "k"}, {"Σ", "ς"}, {"日本", "日本"}}
	for _, p := range pairs {
		if (foldKey(p[0]) == foldKey(p[1])) != strings.EqualFold(p[0], p[1]) {
			t.Errorf("foldKey(%q) vs foldKey(%q) disagrees with EqualFold=%v", p[0], p[1], strings.EqualFold(p[0], p[1]))
		}
	}
}

// BenchmarkParseJSON measures the hardening parser alone against
// encoding/json decoding into any.
func BenchmarkParseJSON(b *testing.B) {
	body := []byte(benchCases[5].q.body)
	lim := JSONLimits{}.withDefaults()
	b.Run("gatekit", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseJSON(body, lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	v := newShop(b, Config{})
	b.Run("gatekit-interned", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseJSONInterned(body, lim, v.intern); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v any
			if err := jsonUnmarshalNumber(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// strictDuplicates reports whether JSON text b has an object with two keys
// equal under strings.EqualFold, using encoding/json's tokenizer as an
// independent reference.
func strictDuplicates(b []byte) bool {
	d := json.NewDecoder(strings.NewReader(string(b)))
	type frame struct {
		obj    bool
		keys   []string
		expect bool // next string token is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.obj && top.expect
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &frame{obj: v == '{', expect: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expect = true
				}
			}
			continue
		case string:
			if isKey {
				for _, k := range top.keys {
					if strings.EqualFold(k, v) {
						return true
					}
				}
				top.keys = append(top.keys, v)
				top.expect = false
				continue
			}
		}
		if top != nil && top.obj {
			top.expect = true
		}
	}
}

// FuzzJSONValidate: accepted input decodes with encoding/json to the same
// value and has no duplicate or case-variant keys; rejection for duplicates
// is confirmed by the reference.
func FuzzJSONValidate(f *testing.F) {
	for _, s := range []string{
		`{"role":"user","items":[1,2,3]}`, `{"role":"user","role":"admin"}`, `{"role":"user","ROLE":"admin"}`,
		`[[[[[]]]]]`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `1e400`, `-0.5E-3`, `{"a":{"b":[null,true,false]}}`,
		`{"K":1,"\u212a":2}`, ` [1 , 2 ] `, `{"a":1}x`, `01`,
	} {
		f.Add([]byte(s))
	}
	lim := JSONLimits{MaxDepth: 16, MaxMembers: 64, MaxStringBytes: 256}
	in := newInterned()
	for _, s := range []string{"role", "user", "admin", "items", "a", "K"} {
		in.addKey(s)
		in.addVal(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b, lim)
		if err != nil {
			var je *jsonError
			if !errors.As(err, &je) || len(je.reason) > 200 {
				t.Fatalf("unexpected error %v", err)
			}
			if strings.HasPrefix(je.reason, "duplicate key") && !strictDuplicates(b) {
				t.Fatalf("rejected %q for duplicates the reference does not see", b)
			}
			return
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatalf("accepted %q, encoding/json rejects it: %v", b, err)
		}
		if _, err := d.Token(); err != io.EOF {
			t.Fatalf("accepted %q with trailing data", b)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("parseJSON(%q) = %#v, encoding/json = %#v", b, v, want)
		}
		if vi, err := parseJSONInterned(b, lim, in); err != nil || !reflect.DeepEqual(vi, want) {
			t.Fatalf("interned parse of %q = %#v, %v; want %#v", b, vi, err, want)
		}
		if strictDuplicates(b) {
			t.Fatalf("accepted %q with duplicate keys", b)
		}
	})
}
