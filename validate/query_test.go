package validate

import (
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// queryCases are raw query strings covering what url.ParseQuery treats
// specially: escapes in keys and values, '+', empty pairs, keys without
// '=', repeated keys, malformed escapes and semicolons.
var queryCases = []string{
	"",
	"a=1",
	"a=1&b=2&a=3",
	"a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&a=9", // one pair more than check splits
	"b=1&c=2&d=3&e=4&f=5&g=6&h=7&a=8",     // as many as it splits
	"a=&a",
	"&&a=1&&",
	"a%20b=c+d&a+b=x",
	"%61=1&a=2",
	"a=%41%42",
	"a=%4",
	"a=%zz&b=1",
	"a=1;b=2",
	"a=1&b%=2",
	"=1&a==2",
	"a=" + strings.Repeat("x&a=", 80) + "1", // more pairs than the allocation-free path takes
	"a=" + strings.Repeat("x&a=", 80) + "%",
}

// checkQueryAgainstParseQuery fails t unless q agrees with url.ParseQuery
// on raw: the same error verdict and, for each name, the same values.
func checkQueryAgainstParseQuery(t *testing.T, raw string, names []string) {
	t.Helper()
	want, wantErr := url.ParseQuery(raw)
	q := &query{raw: raw}
	if err := q.check(); (err != nil) != (wantErr != nil) {
		t.Fatalf("query %q: check() = %v, url.ParseQuery error %v", raw, err, wantErr)
	}
	if wantErr != nil {
		return
	}
	for name := range want {
		names = append(names, name)
	}
	for _, name := range names {
		for _, checked := range []bool{false, true} {
			fresh := &query{raw: raw}
			if checked {
				_ = fresh.check() // splits the pairs of a short query
			}
			if got := fresh.values(name); !slices.Equal(got, want[name]) {
				t.Errorf("query %q: values(%q) = %q, want %q", raw, name, got, want[name])
			}
			v, n := fresh.first(name)
			if n != len(want[name]) || n > 0 && v != want[name][0] {
				t.Errorf("query %q (checked %v): first(%q) = %q, %d; want %q", raw, checked, name, v, n, want[name])
			}
			if v2, n2 := fresh.first(name); v2 != v || n2 != n {
				t.Errorf("query %q: first(%q) again = %q, %d; first gave %q, %d", raw, name, v2, n2, v, n)
			}
		}
	}
	if got := q.all(); len(got) != len(want) {
		t.Errorf("query %q: all() has %d keys, want %d", raw, len(got), len(want))
	}
}

func TestQueryAgreesWithParseQuery(t *testing.T) {
	for _, raw := range queryCases {
		t.Run(raw[:min(len(raw), 30)], func(t *testing.T) {
			checkQueryAgainstParseQuery(t, raw, []string{"a", "b", "a b", "", "zz"})
		})
	}
}

func TestNilQueryIsEmpty(t *testing.T) {
	var q *query
	if v, n := q.first("a"); v != "" || n != 0 {
		t.Errorf("first = %q, %d; want none", v, n)
	}
	if q.values("a") != nil || q.all() != nil {
		t.Error("a nil query has values")
	}
}

// FuzzQueryAgreesWithParseQuery checks that the lazy query gives what
// url.ParseQuery gives for any query string and name.
func FuzzQueryAgreesWithParseQuery(f *testing.F) {
	for _, raw := range queryCases {
		f.Add(raw, "a")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		checkQueryAgainstParseQuery(t, raw, []string{name})
	})
}

// BenchmarkQueryFirst checks a 4-pair query as url.ParseQuery would and
// finds one parameter's value, without building url.Values.
func BenchmarkQueryFirst(b *testing.B) {
	b.ReportAllocs()
	raw := "limit=10&offset=20&tags=a&tags=b"
	for b.Loop() {
		q := query{raw: raw}
		if q.check() != nil {
			b.Fatal("rejected")
		}
		if _, n := q.first("offset"); n != 1 {
			b.Fatal("offset not found")
		}
	}
}

func TestUnescapeQueryIsQueryUnescape(t *testing.T) {
	long := strings.Repeat("%41", 50) // longer than the stack buffer
	for _, s := range []string{"", "plain", "a+b", "https%3A%2F%2Fexample.com%2Fx", "%e2%82%ac", "%4", "%zz", "100%", "%%41", long} {
		want, err := url.QueryUnescape(s)
		if err != nil {
			want = ""
		}
		if got := unescapeQuery(s); got != want {
			t.Errorf("unescapeQuery(%q) = %q; want %q", s, got, want)
		}
	}
}

// FuzzUnescapeQuery checks unescapeQuery against url.QueryUnescape (""
// where that refuses the component).
func FuzzUnescapeQuery(f *testing.F) {
	for _, s := range []string{"a+b", "x%3Dy", "%4", "%%41", "ab%%", "caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := url.QueryUnescape(s)
		if err != nil {
			want = ""
		}
		if got := unescapeQuery(s); got != want {
			t.Errorf("unescapeQuery(%q) = %q; want %q", s, got, want)
		}
	})
}

// TestParseQueryLimitHonoured: with GODEBUG=urlmaxqueryparams lowering
// url.ParseQuery's limit, a query or form body over it is refused as
// url.ParseQuery refuses it, though both are otherwise read without it.
// The limit is read once per process, so the check runs in a child
// process started with the setting.
func TestParseQueryLimitHonoured(t *testing.T) {
	if os.Getenv("GATEKIT_QUERY_LIMIT_CHILD") == "1" {
		if got := parseQueryLimit(); got != 2 {
			t.Fatalf("parseQueryLimit() = %d with urlmaxqueryparams=3, want 2", got)
		}
		v := mustLoad(t, docQueryLimit, Config{})
		checkVerdicts(t, v, []verdictCase{
			{method: "POST", target: "/f?a=1&b=2", ct: "application/x-www-form-urlencoded", body: "a=1&b=2", ok: true},
			{method: "POST", target: "/f", ct: "application/x-www-form-urlencoded", body: "a=1&b=2&c=3", ok: false},
			{method: "POST", target: "/f", ct: "application/x-www-form-urlencoded", body: "a=1&b=2&", ok: false},
			{method: "POST", target: "/f?a=1&b=2&c=3", ct: "application/x-www-form-urlencoded", body: "a=1", ok: false},
		})
		return
	}
	if got := probeParseQueryLimit(); got != splitCap {
		t.Errorf("probeParseQueryLimit() = %d without a setting, want %d", got, splitCap)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestParseQueryLimitHonoured$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GATEKIT_QUERY_LIMIT_CHILD=1", "GODEBUG=urlmaxqueryparams=3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

const docQueryLimit = `openapi: 3.0.3
info: {title: limit, version: "1"}
paths:
  /f:
    post:
      parameters:
        - {name: a, in: query, schema: {type: integer}}
        - {name: b, in: query, schema: {type: integer}}
        - {name: c, in: query, schema: {type: integer}}
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              additionalProperties: false
              properties: {a: {type: string}, b: {type: string}, c: {type: string}}
      responses: {"200": {description: ok}}
`
