package route

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
)

// named returns a handler that answers with its name.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(name))
	})
}

func mustNew(t testing.TB, rules []Rule, cfg Config) *Table {
	t.Helper()
	tb, err := New(rules, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

// serve routes one request and returns the status and body.
func serve(tb *Table, r *http.Request) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	tb.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestErrorHandlerReplacesProblemWriter(t *testing.T) {
	var got error
	tb := mustNew(t, []Rule{{Path: "/a", Methods: []string{"GET"}, Handler: named("a")}}, Config{
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.WriteHeader(599)
		},
	})
	status, _, _ := serve(tb, httptest.NewRequest("POST", "/a", nil))
	var me *MethodError
	if status != 599 || !errors.As(got, &me) || strings.Join(me.Allow, ",") != "GET" {
		t.Fatalf("ErrorHandler status %d err %v", status, got)
	}
}

func TestSwapIsAtomicPerRequest(t *testing.T) {
	tb := mustNew(t, []Rule{{Path: "/v", Handler: named("v1")}}, Config{})
	if err := tb.Swap([]Rule{{Path: "/{bad"}}); err == nil {
		t.Fatal("Swap accepted invalid rules")
	}
	if _, body, _ := serve(tb, httptest.NewRequest("GET", "/v", nil)); body != "v1" {
		t.Fatalf("after failed Swap body = %q, want v1", body)
	}
	// Concurrent requests during swaps always see one complete version:
	// the "old" rule matches /v by its exact pattern, the "new" one by /*;
	// a name with the other's pattern would be a torn read.
	if err := tb.Swap([]Rule{{Name: "old", Path: "/v", Handler: named("a")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 1)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := httptest.NewRequest("GET", "/v", nil)
				m, err := tb.Match(r)
				if err != nil {
					select {
					case errs <- err.Error():
					default:
					}
					return
				}
				if (m.Name == "old") != (m.Pattern == "/v") {
					select {
					case errs <- "mixed versions: " + m.Name + " " + m.Pattern:
					default:
					}
					return
				}
			}
		}()
	}
	for i := range 200 {
		rules := []Rule{{Name: "old", Path: "/v", Handler: named("a")}}
		if i%2 == 1 {
			rules = []Rule{{Name: "new", Path: "/*", Handler: named("b")}}
		}
		if err := tb.Swap(rules); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

func TestServePassesCanonicalRequest(t *testing.T) {
	var got *http.Request
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r })
	tb := mustNew(t, []Rule{{Name: "files", Path: "/files/{name}/*", Handler: rec}}, Config{})
	in := httptest.NewRequest("GET", "/files/caf%c3%a9%3b/%7euser/x%20y?q=1", nil)
	orig := *in.URL
	status, _, _ := serve(tb, in)
	if status != 200 || got == nil {
		t.Fatalf("status %d", status)
	}
	if got.URL.RawPath != "/files/caf%C3%A9%3B/~user/x%20y" || got.URL.Path != "/files/café;/~user/x y" || got.URL.EscapedPath() != got.URL.RawPath {
		t.Errorf("forwarded URL Path=%q RawPath=%q Escaped=%q", got.URL.Path, got.URL.RawPath, got.URL.EscapedPath())
	}
	if got.PathValue("name") != "café;" || got.PathValue("*") != "~user/x y" {
		t.Errorf("PathValue name=%q *=%q", got.PathValue("name"), got.PathValue("*"))
	}
	m, ok := FromContext(got.Context())
	if !ok || m.Name != "files" || m.Path != got.URL.RawPath || m.Params[0] != (Param{"name", "café;"}) {
		t.Errorf("FromContext = %+v, %v", m, ok)
	}
	if *in.URL != orig {
		t.Errorf("inbound URL modified: %+v", in.URL)
	}
	if got.Pattern != "/files/{name}/*" || in.Pattern != "" {
		t.Errorf("Pattern passed on %q (inbound %q), want the matched pattern on the copy only", got.Pattern, in.Pattern)
	}
}

// BenchmarkServeHTTP is Match plus the request copy handed to the rule.
func BenchmarkServeHTTP(b *testing.B) {
	tb, err := New(benchRules(100), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer tb.Close()
	r := httptest.NewRequest("GET", "/svc24/items/42", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		tb.ServeHTTP(w, r)
	}
}

// FuzzServedPathIsCanonical checks that under any path options the path a
// Table hands to its rule is the canonical form pathcanon gives, and that a
// path pathcanon refuses is answered 400.
func FuzzServedPathIsCanonical(f *testing.F) {
	for _, p := range []string{"/api/users", "/API;v=1/Users", "/a/..;x/b", "/caf%c3%a9", "//a", "/a%2fb"} {
		f.Add(p, uint8(0))
		f.Add(p, uint8(0x70))
	}
	f.Fuzz(func(t *testing.T, p string, flags uint8) {
		opts := pathcanon.Options{
			InsecureAllowEncodedSeparators: flags&1 != 0,
			InsecureResolveDotSegments:     flags&2 != 0,
			InsecureAllowEmptySegments:     flags&4 != 0,
			CaseInsensitive:                flags&16 != 0,
			Params:                         pathcanon.ParamMode(flags>>5) % 3,
		}
		var got string
		tb := mustNew(t, []Rule{{Path: "/*", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.RawPath })}}, Config{Path: opts})
		r := httptest.NewRequest("GET", "/", nil)
		if setEscapedPath(r, p) != nil {
			return
		}
		want, err := opts.Canonical(r.URL.EscapedPath())
		status, _, _ := serve(tb, r)
		switch {
		case err != nil && status != 400:
			t.Fatalf("%q refused by pathcanon (%v) but served %d", p, err, status)
		case err == nil && want != "/" && status == 200 && got != want:
			t.Fatalf("%q: handler saw %q, pathcanon gives %q", p, got, want)
		}
	})
}
