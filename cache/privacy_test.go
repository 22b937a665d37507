package cache

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoPoisoningThroughUnkeyedHeaders is RELIABILITY S8: a backend reflects
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

// TestCacheKeyHygiene is RELIABILITY S9: the key is computed from exactly
// the query forwarded upstream, so cloaked parameters cannot poison it.
func TestCacheKeyHygiene(t *testing.T) {
	f := newFixture(t, Config{QueryExclude: []string{"utm_content"}}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		cb := "none"
		for pair := range strings.SplitSeq(strings.ReplaceAll(r.URL.RawQuery, ";", "&"), "&") {
			if v, ok := strings.CutPrefix(pair, "callback="); ok {
				cb = v
			}
		}
		io.WriteString(w, cb)
	})
	f.get("http://example.com/js?callback=ok&utm_content=x;callback=evil")
	if q := f.o.last.Load().URL.RawQuery; q != "callback=ok" {
		t.Fatalf("forwarded query %q, want the excluded pair removed upstream too", q)
	}
	if body, _ := f.get("http://example.com/js?callback=ok"); body != "ok" {
		t.Fatalf("victim got %q", body)
	}
	tests := []struct{ a, b string }{
		{"http://example.com/js?a=1&a=2", "http://example.com/js?a=2&a=1"},
		{"http://example.com/js?%63allback=x", "http://example.com/js?callback=x"},
		{"http://example.com/a%2Fb", "http://example.com/a/b"},
		{"http://example.com/js?cb=1", "http://example.com/js?cb=1;x"},
	}
	for _, tc := range tests {
		ka := f.c.Key(httptest.NewRequest("GET", tc.a, nil))
		kb := f.c.Key(httptest.NewRequest("GET", tc.b, nil))
		if ka == kb {
			t.Errorf("Key(%q) == Key(%q) = %q, want distinct", tc.a, tc.b, ka)
		}
	}
	// Host spellings share a key; that is safe only because the request
	// is forwarded with the canonical host (TestHostVariantsForwardedCanonical).
	same := []struct{ a, b string }{
		{"http://Example.COM:80/x", "http://example.com/x"},
		{"http://example.com./x", "http://example.com/x"},
		{"http://example.com/x?utm_content=1", "http://example.com/x"},
	}
	for _, tc := range same {
		ka := f.c.Key(httptest.NewRequest("GET", tc.a, nil))
		kb := f.c.Key(httptest.NewRequest("GET", tc.b, nil))
		if ka != kb {
			t.Errorf("Key(%q) = %q, Key(%q) = %q, want equal", tc.a, ka, tc.b, kb)
		}
	}
}

// TestHostVariantsForwardedCanonical: the key folds host spellings into
// one, which is safe only because the request forwarded upstream carries
// that canonical host. A backend matching virtual hosts exactly answers
// any other spelling with its default site; an attacker's variant must not
// put the default site under the real site's key.
func TestHostVariantsForwardedCanonical(t *testing.T) {
	for _, host := range []string{"EXAMPLE.com", "example.com.", "example.com:80", "Example.COM.:80"} {
		var fwd []string
		f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
			fwd = append(fwd, r.Host)
			w.Header().Set("Cache-Control", "max-age=600")
			if r.Host == "example.com" {
				io.WriteString(w, "real site")
				return
			}
			io.WriteString(w, "default site")
		})
		r := httptest.NewRequest("GET", "http://example.com/", nil)
		r.Host = host
		attacker := httptest.NewRecorder()
		f.h.ServeHTTP(attacker, r)
		if body, _ := f.get("http://example.com/"); body != "real site" {
			t.Errorf("Host %q: victim got %q, want the real site", host, body)
		}
		if attacker.Body.String() != "real site" || len(fwd) != 1 || fwd[0] != "example.com" {
			t.Errorf("Host %q: forwarded %q, attacker got %q; want one request for example.com", host, fwd, attacker.Body)
		}
	}
}

func FuzzCacheKey(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "utm_content=x;callback=evil", "%63allback=1&keep=2", "&&=&", "a=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := filterQuery(q, nil, []string{"callback", "utm_content"})
		// Idempotent, and never keeps a pair whose (unescaped) name is excluded.
		if again := filterQuery(out, nil, []string{"callback", "utm_content"}); again != out {
			t.Fatalf("filterQuery not idempotent: %q -> %q -> %q", q, out, again)
		}
		for pair := range strings.SplitSeq(out, "&") {
			if strings.HasPrefix(pair, "callback=") || pair == "callback" {
				t.Fatalf("filterQuery(%q) = %q keeps an excluded pair", q, out)
			}
		}
		r := &http.Request{Method: "GET", Host: "example.com", URL: &url.URL{Path: "/", RawQuery: out}}
		if k := requestKey("GET", r); out != "" && !strings.HasSuffix(k, "?"+out) {
			t.Fatalf("key %q does not end with the forwarded query %q", k, out)
		}
	})
}

// TestPrivateResponsesNeverShared is RELIABILITY S10: twenty per-user
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

// TestCoalescingNeverSharesPrivate is LIBRARIES trap 5: 50 concurrent
// identical requests whose responses carry a per-request Set-Cookie or are
// private; no two clients may receive the same cookie or body.
func TestCoalescingNeverSharesPrivate(t *testing.T) {
	for _, kind := range []string{"set-cookie", "private", "authorization"} {
		t.Run(kind, func(t *testing.T) {
			const n = 50
			release := make(chan struct{})
			f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, i int64) {
				if i == 1 {
					<-release
				}
				switch kind {
				case "set-cookie":
					w.Header().Set("Cache-Control", "max-age=60")
					w.Header().Set("Set-Cookie", fmt.Sprintf("sid=%d", i))
				case "private":
					w.Header().Set("Cache-Control", "private, max-age=60")
				case "authorization":
					w.Header().Set("Cache-Control", "max-age=60")
				}
				fmt.Fprintf(w, "user%d", i)
			})
			waiting := make(chan struct{}, n)
			f.c.waitHook = func() { waiting <- struct{}{} }
			bodies := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					rec := f.do("GET", "http://example.com/me", "Authorization", "Bearer token")
					bodies <- rec.Body.String() + "|" + rec.Header().Get("Set-Cookie")
				})
			}
			for range n - 1 {
				<-waiting
			}
			close(release)
			wg.Wait()
			close(bodies)
			seen := map[string]bool{}
			for b := range bodies {
				if seen[b] {
					t.Fatalf("two clients received %q", b)
				}
				seen[b] = true
			}
			if got := f.o.n.Load(); got != n {
				t.Fatalf("origin saw %d requests, want %d", got, n)
			}
		})
	}
}

// TestThunderingHerd is RELIABILITY G4: 200 concurrent clients on one
// expiring key make one upstream fetch per expiry.
func TestThunderingHerd(t *testing.T) {
	const clients = 200
	var gate chan struct{}
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		<-gate
		w.Header().Set("Cache-Control", "max-age=1")
		fmt.Fprintf(w, "v%d", n)
	})
	waiting := make(chan struct{}, clients)
	f.c.waitHook = func() { waiting <- struct{}{} }
	for expiry := 1; expiry <= 3; expiry++ {
		gate = make(chan struct{})
		var wg sync.WaitGroup
		bodies := make(chan string, clients)
		for range clients {
			wg.Go(func() {
				body, _ := f.get("http://example.com/hot")
				bodies <- body
			})
		}
		for range clients - 1 {
			<-waiting
		}
		close(gate)
		wg.Wait()
		close(bodies)
		want := fmt.Sprintf("v%d", expiry)
		for b := range bodies {
			if b != want {
				t.Fatalf("expiry %d: a client got %q, want %q", expiry, b, want)
			}
		}
		if got := f.o.n.Load(); got != int64(expiry) {
			t.Fatalf("after expiry %d: origin saw %d fetches, want %d", expiry, got, expiry)
		}
		f.clk.Add(2 * time.Second)
	}
}

func TestCoalescingWaitIsBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Config{CoalesceTimeout: 20 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n)
	})
	waiting := make(chan struct{}, 1)
	f.c.waitHook = func() { waiting <- struct{}{} }
	done := make(chan string)
	go func() {
		body, _ := f.get("http://example.com/slow")
		done <- body
	}()
	for f.o.n.Load() == 0 {
		runtime.Gosched() // until the leader is upstream
	}
	body, status := f.get("http://example.com/slow")
	if body != "v2" || strings.Contains(status, "collapsed") {
		t.Fatalf("waiter after timeout got %q %q, want its own v2", body, status)
	}
	<-waiting
	close(release)
	if b := <-done; b != "v1" {
		t.Fatalf("leader got %q", b)
	}
}

// TestThunderingHerdFailingOrigin is the second run of RELIABILITY G4: the
// refresh fails; within stale-if-error every waiter gets the stale response
// from one upstream attempt, after it the error.
func TestThunderingHerdFailingOrigin(t *testing.T) {
	const clients = 50
	var gate chan struct{}
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=1, stale-if-error=10")
			io.WriteString(w, "good")
			return
		}
		<-gate
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	f.get("http://example.com/hot")
	waiting := make(chan struct{}, clients)
	f.c.waitHook = func() { waiting <- struct{}{} }
	for _, tc := range []struct {
		advance time.Duration
		want    string
		fetches int64
	}{
		{5 * time.Second, "good", 2},
		{10 * time.Second, "down\n", 2 + clients},
	} {
		f.clk.Add(tc.advance)
		gate = make(chan struct{})
		var wg sync.WaitGroup
		bodies := make(chan string, clients)
		for range clients {
			wg.Go(func() {
				body, _ := f.get("http://example.com/hot")
				bodies <- body
			})
		}
		for range clients - 1 {
			<-waiting
		}
		close(gate)
		wg.Wait()
		close(bodies)
		for b := range bodies {
			if b != tc.want {
				t.Fatalf("t0+%v: a client got %q, want %q", f.clk.Now().Sub(t0), b, tc.want)
			}
		}
		if got := f.o.n.Load(); got != tc.fetches {
			t.Fatalf("t0+%v: origin saw %d requests, want %d", f.clk.Now().Sub(t0), got, tc.fetches)
		}
	}
}
