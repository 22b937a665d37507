package route

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatekit/gatekit/pathcanon"
	"github.com/gatekit/gatekit/reqkey"
)

func TestRewriteChangesPathHostAndHeaders(t *testing.T) {
	type seen struct{ path, raw, host, a, b string }
	var got seen
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{r.URL.Path, r.URL.RawPath, r.Host, r.Header.Get("X-A"), r.Header.Get("X-B")}
	})
	var policy string
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			policy = r.URL.EscapedPath()
			next.ServeHTTP(w, r)
		})
	}
	tests := []struct {
		name   string
		rw     Rewrite
		target string
		want   seen
	}{
		{"strip prefix", Rewrite{StripPrefix: "/api"}, "/api/users/caf%C3%A9", seen{"/users/café", "/users/caf%C3%A9", "example.com", "", "keep"}},
		{"strip to root", Rewrite{StripPrefix: "/api"}, "/api", seen{"/", "/", "example.com", "", "keep"}},
		{"strip needs boundary", Rewrite{StripPrefix: "/ap"}, "/api/x", seen{"/api/x", "/api/x", "example.com", "", "keep"}},
		{"add prefix", Rewrite{AddPrefix: "/v2"}, "/api/x", seen{"/v2/api/x", "/v2/api/x", "example.com", "", "keep"}},
		{"strip and add", Rewrite{StripPrefix: "/api", AddPrefix: "/internal"}, "/api/x", seen{"/internal/x", "/internal/x", "example.com", "", "keep"}},
		{"replace", Rewrite{ReplacePath: "/health"}, "/api/x", seen{"/health", "/health", "example.com", "", "keep"}},
		{"host and headers", Rewrite{Host: "backend.internal", SetHeaders: map[string]string{"X-A": "1"}, RemoveHeaders: []string{"X-B"}}, "/api/x", seen{"/api/x", "/api/x", "backend.internal", "1", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rw := tc.rw
			tb := mustNew(t, []Rule{{Path: "/*", Rewrite: &rw, Middleware: []func(http.Handler) http.Handler{mw}, Handler: rec}}, Config{})
			r := httptest.NewRequest("GET", tc.target, nil)
			r.Header.Set("X-B", "keep")
			got = seen{}
			serve(tb, r)
			if got != tc.want {
				t.Errorf("rewritten %+v, want %+v", got, tc.want)
			}
			if c, _ := pathcanon.Path(tc.target); policy != c {
				t.Errorf("middleware saw %q, want the matched path %q", policy, c)
			}
			if r.Header.Get("X-B") != "keep" || r.Header.Get("X-A") != "" {
				t.Errorf("inbound headers modified: %v", r.Header)
			}
		})
	}
}

func TestRedirectBuildsLocationFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		rd     Redirect
		target string
		tls    bool
		status int
		loc    string
	}{
		{"to https", Redirect{Scheme: "https", Status: 308}, "/a/b?x=1", false, 308, "https://example.com/a/b?x=1"},
		{"keep scheme", Redirect{Host: "new.example:8443"}, "/a", true, 302, "https://new.example:8443/a"},
		{"path and strip query", Redirect{Path: "/login", StripQuery: true, Status: 303}, "/a?next=1", false, 303, "http://example.com/login"},
		{"canonical path", Redirect{Scheme: "https"}, "/%7euser/x", false, 302, "https://example.com/~user/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := tc.rd
			tb := mustNew(t, []Rule{{Path: "/*", Redirect: &rd}}, Config{})
			r := httptest.NewRequest("GET", tc.target, nil)
			if tc.tls {
				r = httptest.NewRequest("GET", "https://example.com"+tc.target, nil)
			}
			status, _, h := serve(tb, r)
			if status != tc.status || h.Get("Location") != tc.loc {
				t.Errorf("redirect = %d %q, want %d %q", status, h.Get("Location"), tc.status, tc.loc)
			}
		})
	}
}

func TestMergeSlashesRedirectsToMergedPath(t *testing.T) {
	tb := mustNew(t, []Rule{{Path: "/a/b", Handler: named("ab")}}, Config{Path: pathcanon.Options{MergeSlashes: true}})
	status, _, h := serve(tb, httptest.NewRequest("GET", "//a///b?q=1", nil))
	if status != http.StatusPermanentRedirect || h.Get("Location") != "/a/b?q=1" {
		t.Fatalf("got %d %q", status, h.Get("Location"))
	}
	if _, body, _ := serve(tb, httptest.NewRequest("GET", "/a/b", nil)); body != "ab" {
		t.Fatalf("canonical path body %q", body)
	}
}

func TestMirrorCopiesRequestWithoutAffectingClient(t *testing.T) {
	type copyOf struct {
		body   string
		header string
		length int64
	}
	got := make(chan copyOf, 10)
	shadow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Header.Set("X-Mutated", "by shadow")
		w.WriteHeader(500)
		_, _ = w.Write([]byte("shadow answer"))
		got <- copyOf{string(b), r.Header.Get("X-In"), r.ContentLength}
	})
	primary := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Mutated") != "" {
			t.Errorf("shadow mutation visible to primary")
		}
		_, _ = w.Write([]byte("primary:" + string(b)))
	})
	tb, err := New([]Rule{{Path: "/", Methods: []string{"POST"}, Handler: primary, Mirror: &Mirror{Handler: shadow, MaxBody: 8}}}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()

	r := httptest.NewRequest("POST", "/", strings.NewReader("12345678"))
	r.Header.Set("X-In", "v")
	status, body, _ := serve(tb, r)
	if status != 200 || body != "primary:12345678" {
		t.Fatalf("client got %d %q", status, body)
	}
	if c := <-got; c != (copyOf{"12345678", "v", 8}) {
		t.Errorf("shadow got %+v", c)
	}
	// Over MaxBody: not mirrored, primary still gets every byte.
	for _, chunked := range []bool{false, true} {
		r = httptest.NewRequest("POST", "/", strings.NewReader("123456789"))
		if chunked {
			r.Body = io.NopCloser(io.MultiReader(strings.NewReader("123456789")))
			r.ContentLength = -1
		}
		if _, body, _ = serve(tb, r); body != "primary:123456789" {
			t.Fatalf("client got %q over MaxBody (chunked %v)", body, chunked)
		}
	}
	if s := tb.Stats(); s.Mirrored != 1 || s.MirrorSkipped != 2 {
		t.Errorf("Stats = %+v, want 1 mirrored, 2 skipped", s)
	}
}

func TestMirrorsAreBoundedAndStopOnClose(t *testing.T) {
	release := make(chan struct{})
	var started, panicked atomic.Int32
	shadow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case <-release:
		case <-r.Context().Done(): // Close cancels the copies
		}
		if r.Header.Get("X-Panic") != "" {
			panicked.Add(1)
			panic("shadow bug")
		}
	})
	tb, err := New([]Rule{{Path: "/", Handler: named("ok"), Mirror: &Mirror{Handler: shadow}}}, Config{MaxMirrors: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r := httptest.NewRequest("GET", "/", nil)
		if i == 0 {
			r.Header.Set("X-Panic", "1")
		}
		if _, body, _ := serve(tb, r); body != "ok" {
			t.Fatalf("client got %q", body)
		}
	}
	s := tb.Stats()
	if s.Mirrored != 2 || s.MirrorDropped != 3 {
		t.Errorf("Stats = %+v, want 2 mirrored and 3 dropped with MaxMirrors 2", s)
	}
	_ = tb.Close() // cancels and waits; goleak in TestMain checks nothing is left
	if panicked.Load() != 1 || tb.Stats().MirrorPanics != 1 {
		t.Errorf("panics = %d, Stats %+v", panicked.Load(), tb.Stats())
	}
	serve(tb, httptest.NewRequest("GET", "/", nil))
	if s := tb.Stats(); s.Mirrored != 2 || s.MirrorDropped != 4 {
		t.Errorf("after Close Stats = %+v, want the copy dropped", s)
	}
	_ = tb.Close()
	close(release)
}

// TestConcurrentServeSwapMirror runs requests with body predicates, splits
// and mirrors while the table is swapped, for the race detector and goleak.
func TestServeSwapAndMirrorRunConcurrently(t *testing.T) {
	shadow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) })
	rulesFor := func(v string) []Rule {
		return []Rule{
			{Name: v + "-body", Path: "/orders", Body: []Predicate{{Name: "/k", Value: "v"}}, Handler: named(v + "-body"), Mirror: &Mirror{Handler: shadow}},
			{Name: v + "-split", Path: "/*", Split: []Backend{{Weight: 1, Handler: named(v + "-a")}, {Weight: 1, Handler: named(v + "-b")}}, SplitKey: reqkey.ClientIP},
		}
	}
	tb, err := New(rulesFor("v0"), Config{MaxMirrors: 4})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if err := tb.Swap(rulesFor(fmt.Sprint("v", i%2))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(`{"k":"v"}`))
		body := r.Body
		_, got, _ := serve(tb, r)
		if !strings.HasSuffix(got, "-body") {
			t.Fatalf("got %q", got)
		}
		if r.Body != body {
			t.Fatal("ServeHTTP replaced the inbound request's Body")
		}
		if _, got, _ = serve(tb, httptest.NewRequest("GET", "/x", nil)); !strings.HasSuffix(got, "-a") && !strings.HasSuffix(got, "-b") {
			t.Fatalf("got %q", got)
		}
	}
	<-done
	_ = tb.Close()
}
