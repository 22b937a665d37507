package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestKeyIsTheForwardedQuery: the key is computed from exactly
// the query forwarded upstream, so cloaked parameters cannot poison it.
func TestKeyIsTheForwardedQuery(t *testing.T) {
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
