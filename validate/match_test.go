package validate

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestPathTableMatchesTemplates(t *testing.T) {
	var tbl pathTable
	for _, tmpl := range []string{
		"/", "/books", "/books/", "/books/{id}", "/books/{id}.json", "/books/new",
		"/books/{id}/pages/{page}", "/v{major}.{minor}/status", "/files/{name}", "/a/{x}/c", "/a/b/{y}",
	} {
		if _, err := tbl.add(tmpl); err != nil {
			t.Fatalf("add(%q): %v", tmpl, err)
		}
	}
	tests := []struct {
		path string
		tmpl string
		vals []string
	}{
		{"/", "/", nil},
		{"/books", "/books", nil},
		{"/books/", "/books/", nil},
		{"/books/new", "/books/new", nil},
		{"/books/7", "/books/{id}", []string{"7"}},
		{"/books/7.json", "/books/{id}.json", []string{"7"}},
		{"/books/a.b.json", "/books/{id}.json", []string{"a.b"}},
		{"/books/.json", "/books/{id}", []string{".json"}},
		{"/books/7/pages/3", "/books/{id}/pages/{page}", []string{"7", "3"}},
		{"/v2.10/status", "/v{major}.{minor}/status", []string{"2", "10"}},
		{"/files/a%2Fb", "/files/{name}", []string{"a%2Fb"}},
		{"/a/b/c", "/a/b/{y}", []string{"c"}}, // literal segment first
		{"/a/z/c", "/a/{x}/c", []string{"z"}},
		{"/books/7/pages", "", nil},
		{"/books//pages/3", "", nil}, // empty parameter
		{"/nope", "", nil},
		{"", "", nil},
		{"books", "", nil},
	}
	for _, tc := range tests {
		e, vals := tbl.lookup(tc.path, nil)
		got := ""
		if e != nil {
			got = e.template
		}
		if got != tc.tmpl || (got != "" && !reflect.DeepEqual(vals, tc.vals)) {
			t.Errorf("lookup(%q) = %q %q, want %q %q", tc.path, got, vals, tc.tmpl, tc.vals)
		}
	}
	for _, bad := range []string{"books", "/a/{", "/a/}", "/a/{}", "/a/{x}{y}", "/a/x}"} {
		if _, err := tbl.add(bad); err == nil {
			t.Errorf("add(%q) accepted", bad)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	v := newShop(t, Config{})
	var buf [8]string
	n := testing.AllocsPerRun(100, func() {
		if e, _ := v.lookupPath(&v.ops, "/v1/customers/42/orders", buf[:0]); e == nil {
			t.Fatal("no match")
		}
	})
	if n != 0 {
		t.Fatalf("lookup allocates %v times", n)
	}
}

// FuzzPathLookup: a match substitutes back into its template to give the
// looked-up path, byte for byte.
func FuzzPathLookup(f *testing.F) {
	for _, s := range []string{"/books/7.json", "/v2.10/status", "/a/b/c", "/files/a%2Fb", "//", "/books/7/pages/3", "/v..x/status", "/books/new", "/pets/", "/files/a/b"} {
		f.Add(s)
	}
	var tbl pathTable
	for _, tmpl := range []string{"/", "/books/{id}", "/books/{id}.json", "/books/{id}/pages/{page}", "/v{major}.{minor}/status", "/files/{name}", "/a/{x}/c", "/a/b/{y}", "/x{a}y{b}z/end",
		"/books/new", "/a/b/c", "/pets/"} {
		if _, err := tbl.add(tmpl); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, p string) {
		e, vals := tbl.lookup(p, nil)
		if strings.HasPrefix(p, "/") {
			// The map of parameterless templates answers as the tree does.
			if te, _ := tbl.root.match(p[1:], nil); te != e {
				t.Fatalf("lookup(%q) = %v, the tree alone %v", p, e, te)
			}
		}
		if e == nil {
			return
		}
		if len(vals) != len(e.names) {
			t.Fatalf("lookup(%q) = %q with %d values for %d names", p, e.template, len(vals), len(e.names))
		}
		got, i := e.template, 0
		for _, name := range e.names {
			if vals[i] == "" || strings.Contains(vals[i], "/") {
				t.Fatalf("lookup(%q): bad value %q", p, vals[i])
			}
			got = strings.Replace(got, "{"+name+"}", vals[i], 1)
			i++
		}
		if got != p {
			t.Fatalf("lookup(%q) = %q %q, which rebuilds %q", p, e.template, vals, got)
		}
	})
}

// BenchmarkLookup measures finding the operation alone.
func BenchmarkLookup(b *testing.B) {
	v := newShop(b, Config{})
	b.ReportAllocs()
	var buf [8]string
	for b.Loop() {
		if e, _ := v.lookupPath(&v.ops, "/v1/inventory/ABC-1234", buf[:0]); e == nil {
			b.Fatal("no match")
		}
	}
}

func TestEncodedPathParams(t *testing.T) {
	v := newShop(t, Config{})
	var got string
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawPath
		if got == "" {
			got = r.URL.Path
		}
	}))
	// %2D is "-": the decoded slug is valid; the backend sees the canonical
	// path that was validated, as route.Table passes it on.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/categories/home%2Dgarden", nil))
	if rec.Code != 200 || got != "/categories/home-garden" {
		t.Fatalf("status %d, backend path %q", rec.Code, got)
	}
	// An encoded slash stays inside the segment and fails the pattern.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/categories/a%2Fb", nil))
	if rec.Code != 400 {
		t.Fatalf("encoded slash: status %d, want 400", rec.Code)
	}
}

// TestPathEntryOperationByMethod: the operations of the methods OpenAPI
// names are found by exact method, and any other method (a lower-case
// spelling too) finds none.
func TestPathEntryOperationByMethod(t *testing.T) {
	e := &pathEntry{methods: map[string]*operation{}}
	get, patch := &operation{method: "GET"}, &operation{method: "PATCH"}
	e.setOperation("GET", get)
	e.setOperation("PATCH", patch)
	for method, want := range map[string]*operation{
		"GET": get, "PATCH": patch, "POST": nil, "PUT": nil, "DELETE": nil, "HEAD": nil,
		"OPTIONS": nil, "TRACE": nil, "CONNECT": nil, "get": nil, "": nil,
	} {
		if got := e.operation(method); got != want {
			t.Errorf("operation(%q) = %v, want %v", method, got, want)
		}
	}
}

// TestExactPathsAnswerAsTheTree: a template without parameters is found by
// its whole path, with the entry the segment tree finds; one with a '%' is
// left to the tree, which unescapes request segments before comparing.
func TestExactPathsAnswerAsTheTree(t *testing.T) {
	var tbl pathTable
	for _, tmpl := range []string{"/users/me", "/users/{id}", "/c%20d", "/"} {
		if _, err := tbl.add(tmpl); err != nil {
			t.Fatal(err)
		}
	}
	if len(tbl.exact) != 2 {
		t.Errorf("%d exact paths, want 2 (/users/me and /)", len(tbl.exact))
	}
	for _, p := range []string{"/users/me", "/users/7", "/", "/c%20d", "/c d", "/users/me/x"} {
		e, _ := tbl.lookup(p, nil)
		te, _ := tbl.root.match(p[1:], nil)
		if e != te {
			t.Errorf("lookup(%q) = %v, the tree alone %v", p, e, te)
		}
	}
	if e, _ := tbl.lookup("/users/me", nil); e == nil || e.template != "/users/me" {
		t.Errorf("/users/me found %v", e)
	}
}
