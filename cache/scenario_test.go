package cache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
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
	f.Add("max-age=0", "gzip, br", `"a"`, "max-age=60", "5", "Accept-Encoding", "")
	f.Add("only-if-cached, max-stale", "", "*", "s-maxage=1, must-revalidate", "x", "*", "Thu, 01 Jan 1970 00:00:00 GMT")
	f.Add("no-cache", "x-gzip;q=0", `W/"a"`, `no-cache="set-cookie"`, "", "accept-language, ", "0")
	f.Fuzz(func(t *testing.T, reqCC, ae, inm, respCC, age, vary, expires string) {
		fx := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
			h := w.Header()
			for k, v := range map[string]string{"Cache-Control": respCC, "Age": age, "Vary": vary, "Expires": expires, "ETag": `"a"`} {
				if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
					h.Set(k, v)
				}
			}
			if n%2 == 0 {
				h.Set("Set-Cookie", "sid=x")
			}
			io.WriteString(w, "body")
		})
		for range 3 {
			rec := fx.do("GET", "http://example.com/", "Cache-Control", reqCC, "Accept-Encoding", ae, "If-None-Match", inm)
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
			fx.clk.Add(time.Second)
		}
	})
}
