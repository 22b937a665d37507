package cache

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
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

// keepingStore is a Store outside this package's own that keeps every key
// it is given to Get, as a store with a negative cache or a tracing hook
// might.
type keepingStore struct {
	*MemoryStore
	mu   sync.Mutex
	keys []string
}

func (s *keepingStore) Get(ctx context.Context, key string) (*Entry, bool) {
	s.mu.Lock()
	s.keys = append(s.keys, key)
	s.mu.Unlock()
	return s.MemoryStore.Get(ctx, key)
}

// TestKeysGivenToOtherStoresAreTheirOwn: the middleware builds lookup keys
// in reused buffers, and only this package's stores, which keep nothing of
// a key given to Get, see a view of one; any other store gets a key that
// later requests never change.
func TestKeysGivenToOtherStoresAreTheirOwn(t *testing.T) {
	store := &keepingStore{MemoryStore: NewMemoryStore(0, nil)}
	c, err := New(store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Path)
	}))
	urls := []string{"http://example.com/a", "http://example.com/bb", "http://example.com/a", "http://example.org/ccc"}
	for _, u := range urls {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", u, nil))
	}
	var want []string
	for _, u := range urls {
		want = append(want, c.Key(httptest.NewRequest("GET", u, nil)))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	// A miss looks the key up twice (before and after joining its flight).
	var got []string
	for i, k := range store.keys {
		if i == 0 || k != store.keys[i-1] {
			got = append(got, k)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys the store was given, as they read now: %q, want %q", got, want)
	}
}

// TestKeyInABufferIsTheKey: the key a pooled buffer holds is Key's, for
// this package's stores (a view) and others (a copy), also when the buffer
// held a longer key before.
func TestKeyInABufferIsTheKey(t *testing.T) {
	for name, store := range map[string]Store{"memory": NewMemoryStore(0, nil), "other": &keepingStore{MemoryStore: NewMemoryStore(0, nil)}} {
		c, err := New(store, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"https://Example.com:443/a/very/long/path?x=1&y=2", "http://example.com/", "http://[::1]:8080/p%2Fq?r"} {
			r := httptest.NewRequest("GET", u, nil)
			if u[4] == 's' {
				r.TLS = &tls.ConnectionState{}
			}
			key, buf := c.borrowKey((&handler{c: c}).prepare(r))
			if want := requestKey(http.MethodGet, r); key != want {
				t.Errorf("%s: borrowKey(%q) = %q, want %q", name, u, key, want)
			}
			c.putKey(buf)
		}
		c.Close()
	}
}

// TestStripSetFindsEveryName: a request has a field to strip whether it
// has fewer fields than the list has names (its fields are gone through)
// or as many or more (the names are looked up), including names of 64
// bytes or more, which the length filter does not cover.
func TestStripSetFindsEveryName(t *testing.T) {
	long := "X-" + strings.Repeat("Long", 16) // 66 bytes
	s := newStripSet(append(DefaultStripHeaders(), long))
	filler := func(n int) http.Header {
		h := http.Header{}
		for i := range n {
			h[fmt.Sprintf("X-Filler-%02d", i)] = []string{"1"}
		}
		return h
	}
	for _, n := range []int{0, 1, 5, len(s.names) - 1, len(s.names), 20} {
		if s.any(filler(n)) {
			t.Errorf("%d fields, none to strip: any says true", n)
		}
		for _, k := range s.names {
			h := filler(n)
			h[k] = []string{"evil.example"}
			if !s.any(h) {
				t.Errorf("%d fields and %s: any says false", n, k)
			}
		}
		h := filler(n)
		h["X-Forwarded-Hos"] = []string{"same length as a name, one byte short"}
		h[long[:len(long)-1]+"x"] = []string{"long, not a name"}
		if s.any(h) {
			t.Errorf("%d fields and near names: any says true", n)
		}
	}
	if newStripSet(nil).any(http.Header{"X-Forwarded-Host": {"a"}}) {
		t.Error("an empty list strips a field")
	}
}
