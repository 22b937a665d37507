package cache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoPoisoningThroughUnkeyedHeaders: a backend reflects
// forwarding-type headers into the body; an attacker's request must never
// be served to a victim. The control run (no stripping) must be poisoned.
func TestNoPoisoningThroughUnkeyedHeaders(t *testing.T) {
	vectors := []string{"X-Forwarded-Host", "X-Forwarded-Scheme", "X-Original-URL", "X-Rewrite-URL",
		"X-HTTP-Method-Override", "X-Host", "X-Forwarded-Server", "X-Original-Host", "X-HTTP-Method",
		"X-Method-Override", "Accept-Language", "X-Custom"}
	reflect := func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		if r.Header.Get("X-Custom") != "" || r.Header.Get("Accept-Language") != "" {
			w.Header().Set("Vary", "X-Custom, Accept-Language") // headers the backend uses are keyed
		}
		var b strings.Builder
		for _, v := range vectors {
			b.WriteString(r.Header.Get(v))
		}
		io.WriteString(w, "<script src=//"+b.String()+"/x.js>")
	}
	for _, control := range []bool{false, true} {
		cfg := Config{}
		if control {
			cfg.StripRequestHeaders = []string{}
		}
		poisoned := 0
		for _, v := range vectors {
			for rep := range 10 {
				f := newFixture(t, cfg, reflect)
				target := fmt.Sprintf("http://example.com/page?rep=%d", rep)
				f.do("GET", target, v, "evil.example")
				if body, _ := f.get(target); strings.Contains(body, "evil") {
					poisoned++
				}
			}
		}
		if !control && poisoned != 0 {
			t.Fatalf("victim received the attacker's value %d times", poisoned)
		}
		if control && poisoned == 0 {
			t.Fatal("control run without stripping was not poisoned: the test is not sensitive")
		}
	}
}

// TestPrivateResponsesNeverShared: twenty per-user
// variants store nothing and never reach a second user; the control stores
// exactly one entry.
func TestPrivateResponsesNeverShared(t *testing.T) {
	type variant struct {
		name       string
		respHeader []string
		reqHeader  []string
		path       string
	}
	var variants []variant
	for _, p := range []string{"/account", "/account/x.css", "/account;x.css", "/account%2Fx.css"} {
		variants = append(variants,
			variant{"set-cookie", []string{"Cache-Control", "max-age=60", "Set-Cookie", "sid=USER"}, nil, p},
			variant{"private", []string{"Cache-Control", "private, max-age=60"}, nil, p},
			variant{"no-store", []string{"Cache-Control", "no-store"}, nil, p},
			variant{"no cache-control", nil, nil, p},
			variant{"authorization", []string{"Cache-Control", "max-age=60"}, []string{"Authorization", "Bearer USER"}, p},
		)
	}
	variants[3].reqHeader = []string{"Cookie", "sid=USER"} // request Cookie replaces one no-cache-control case
	variants[3].respHeader = []string{"Cache-Control", "max-age=60"}
	for _, v := range variants {
		f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
			user := r.Header.Get("X-User")
			for i := 0; i+1 < len(v.respHeader); i += 2 {
				w.Header().Add(v.respHeader[i], strings.ReplaceAll(v.respHeader[i+1], "USER", user))
			}
			io.WriteString(w, "data of "+user)
		})
		target := "http://example.com" + v.path
		hdr := func(user string) []string {
			h := []string{"X-User", user}
			for i := 0; i+1 < len(v.reqHeader); i += 2 {
				h = append(h, v.reqHeader[i], strings.ReplaceAll(v.reqHeader[i+1], "USER", user))
			}
			return h
		}
		f.do("GET", target, hdr("alice")...)
		rec := f.do("GET", target, hdr("bob")...)
		if strings.Contains(rec.Body.String(), "alice") || strings.Contains(rec.Header().Get("Set-Cookie"), "alice") {
			t.Errorf("%s %s: bob received alice's response", v.name, v.path)
		}
		if n := f.store.Len(); n != 0 {
			t.Errorf("%s %s: %d entries stored, want 0", v.name, v.path, n)
		}
	}
	control := newFixture(t, Config{}, headers("Cache-Control", "public, max-age=60"))
	control.do("GET", "http://example.com/account", "Authorization", "Bearer a", "Cookie", "c=1")
	if n := control.store.Len(); n != 1 {
		t.Fatalf("control stored %d entries, want 1", n)
	}
}

func TestAuthorizationExceptions(t *testing.T) {
	for _, tc := range []struct {
		cc    string
		share bool
	}{
		{"max-age=60", false}, {"public, max-age=60", true}, {"s-maxage=60", true},
		{"max-age=60, must-revalidate", true}, {"no-cache=\"Set-Cookie\", public, max-age=60", true},
	} {
		f := newFixture(t, Config{}, headers("Cache-Control", tc.cc))
		f.get("http://example.com/", "Authorization", "Basic YTpi")
		_, status := f.get("http://example.com/")
		if isHit(status) != tc.share {
			t.Errorf("Cache-Control %q: second client hit = %v, want %v", tc.cc, isHit(status), tc.share)
		}
	}
	// A qualified no-cache="Set-Cookie" lets the rest be stored, never the cookie.
	f := newFixture(t, Config{}, headers("Cache-Control", `max-age=60, no-cache="Set-Cookie"`, "Set-Cookie", "sid=alice"))
	f.get("http://example.com/")
	rec := f.do("GET", "http://example.com/")
	if !isHit(ourStatus(rec.Header())) || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("qualified no-cache: status %q Set-Cookie %q, want a hit without the cookie", ourStatus(rec.Header()), rec.Header().Get("Set-Cookie"))
	}
}

// FuzzMiddleware feeds client and origin header values through two
// requests and checks the properties that must hold whatever they are: no
// panic, one well-formed Cache-Status member of ours with a registered fwd
// token, and a hit never carrying a Set-Cookie.
func FuzzMiddleware(f *testing.F) {
	f.Add("max-age=0", "gzip, br", `"a"`, "max-age=60", "5", "Accept-Encoding", "", "", "bytes=0-1")
	f.Add("only-if-cached, max-stale", "", "*", "s-maxage=1, must-revalidate", "x", "*", "Thu, 01 Jan 1970 00:00:00 GMT", "max-age=5", "")
	f.Add("no-cache", "x-gzip;q=0", `W/"a"`, `no-cache="set-cookie"`, "", "accept-language, ", "0", "no-store, x=(1 2)", "bytes=-2")
	f.Fuzz(func(t *testing.T, reqCC, ae, inm, respCC, age, vary, expires, cdnCC, rng string) {
		fx := newFixture(t, Config{TargetedCacheControl: "Gatekit-Cache-Control"}, func(w http.ResponseWriter, r *http.Request, n int64) {
			h := w.Header()
			for k, v := range map[string]string{"Cache-Control": respCC, "Age": age, "Vary": vary, "Expires": expires, "ETag": `"a"`,
				"CDN-Cache-Control": cdnCC, "Gatekit-Cache-Control": cdnCC} {
				if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
					h.Set(k, v)
				}
			}
			if n%2 == 0 {
				h.Set("Set-Cookie", "sid=x")
			}
			io.WriteString(w, "body")
		})
		for i := range 4 {
			method := "GET"
			if i == 2 {
				method = "HEAD"
			}
			rec := fx.do(method, "http://example.com/", "Cache-Control", reqCC, "Accept-Encoding", ae, "If-None-Match", inm, "Range", rng)
			st := ourStatus(rec.Header())
			if !strings.HasPrefix(st, "gatekit; ") {
				t.Fatalf("Cache-Status %q", st)
			}
			if i := strings.Index(st, "fwd="); i >= 0 {
				tok, _, _ := strings.Cut(st[i+4:], ";")
				switch tok {
				case "uri-miss", "vary-miss", "stale", "request", "bypass", "method", "miss":
				default:
					t.Fatalf("unregistered fwd token in %q", st)
				}
			}
			if isHit(st) && rec.Header().Get("Set-Cookie") != "" {
				t.Fatalf("a hit carried Set-Cookie: %q", rec.Header())
			}
			if _, ok := rec.Header()["Gatekit-Cache-Control"]; ok {
				t.Fatalf("the own targeted field reached the client: %q", rec.Header())
			}
			if isHit(st) && rec.Code == http.StatusPartialContent && rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
				t.Fatalf("206 with Content-Length %q and %d bytes", rec.Header().Get("Content-Length"), rec.Body.Len())
			}
			fx.clk.Add(time.Second)
		}
	})
}

// TestItemCreatedAfterStored404 walks through a stored 404 hiding an item
// created later, with the cache mounted on the whole path and on the GET
// route only: a successful POST the cache sees invalidates the 404 at
// once; mounted per route, it does so only through Invalidator on the
// write route, and without it the 404 is served until it expires.
func TestItemCreatedAfterStored404(t *testing.T) {
	tests := []struct {
		name  string
		mount func(c *Cache, app http.Handler) http.Handler
		found bool // after the POST, before the 404 expires
	}{
		{"whole path", func(c *Cache, app http.Handler) http.Handler { return Middleware(c)(app) }, true},
		{"per route with Invalidator", func(c *Cache, app http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /items/{id}", Middleware(c)(app))
			mux.Handle("POST /items/{id}", Invalidator(c)(app))
			return mux
		}, true},
		{"per route without Invalidator", func(c *Cache, app http.Handler) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("GET /items/{id}", Middleware(c)(app))
			mux.Handle("POST /items/{id}", app)
			return mux
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			items := map[string]bool{}
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Cache-Control", "max-age=300")
				id := strings.TrimPrefix(r.URL.Path, "/items/")
				if r.Method == http.MethodPost {
					items[id] = true
					w.WriteHeader(http.StatusCreated)
					return
				}
				if !items[id] {
					w.WriteHeader(http.StatusNotFound)
				}
			})
			c, err := New(NewMemoryStore(0, nil), Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			h := tt.mount(c, app)
			do := func(method string) int {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(method, "http://example.com/items/7", nil))
				return rec.Code
			}
			if code := do("GET"); code != 404 {
				t.Fatalf("first GET: %d", code)
			}
			if code := do("GET"); code != 404 || c.Stats().Hits != 1 {
				t.Fatalf("second GET: %d, %d hits; want the stored 404", code, c.Stats().Hits)
			}
			if code := do("POST"); code != 201 {
				t.Fatalf("POST: %d", code)
			}
			want := 404
			if tt.found {
				want = 200
			}
			if code := do("GET"); code != want {
				t.Fatalf("GET after the POST: %d, want %d", code, want)
			}
		})
	}
}
