package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gatekit/gatekit/cache"
)

// cachedOrigin returns a cache in front of an origin that counts its
// requests, and a function that GETs path through them.
func cachedOrigin(t *testing.T) (*cache.Cache, *atomic.Int64, func(path string)) {
	t.Helper()
	c, err := cache.New(nil, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var hits atomic.Int64
	h := cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, "v")
	}))
	get := func(path string) {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com"+path, nil))
		c.Wait()
	}
	return c, &hits, get
}

func TestPurgeNeedsTheToken(t *testing.T) {
	c, _, _ := cachedOrigin(t)
	caches := map[string]*cache.Cache{"api": c}
	body := `{"cache":"api","url":"http://example.com/a"}`
	if rec := do(mustNew(t, Config{Caches: caches}), "POST", "/api/cache/purge", body, "Authorization", "Bearer x"); rec.Code != 403 {
		t.Errorf("purge with no token configured = %d, want 403", rec.Code)
	}
	h := mustNew(t, Config{Caches: caches, Token: "s3cret"})
	for _, auth := range []string{"", "Bearer wrong", "Basic s3cret", "Bearer s3cre"} {
		rec := do(h, "POST", "/api/cache/purge", body, "Authorization", auth)
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("purge with Authorization %q = %d, want 401 with WWW-Authenticate", auth, rec.Code)
		}
	}
}

func TestPurgeRemovesWhatItNames(t *testing.T) {
	c, hits, get := cachedOrigin(t)
	h := mustNew(t, Config{Caches: map[string]*cache.Cache{"api": c}, Token: "s3cret"})
	for _, p := range []string{"/a", "/b/1", "/b/2"} {
		get(p)
		get(p)
	}
	if hits.Load() != 3 {
		t.Fatalf("origin saw %d requests before purging, want 3 (one per path)", hits.Load())
	}
	purge := func(body string) *httptest.ResponseRecorder {
		return do(h, "POST", "/api/cache/purge", body, "Authorization", "Bearer s3cret")
	}
	if rec := purge(`{"cache":"api","url":"http://example.com/a"}`); rec.Code != 200 || rec.Body.String() != "{\n  \"purged\": 1\n}\n" {
		t.Errorf("purge url = %d %s", rec.Code, rec.Body)
	}
	if rec := purge(`{"cache":"api","prefix":"http://example.com/b/"}`); rec.Code != 200 || rec.Body.String() != "{\n  \"purged\": 2\n}\n" {
		t.Errorf("purge prefix = %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{"/a", "/b/1", "/b/2"} {
		get(p)
	}
	if hits.Load() != 6 {
		t.Errorf("origin saw %d requests after purging, want 6 (each purged path fetched again)", hits.Load())
	}
	for body, want := range map[string]int{
		`{"cache":"nope","url":"http://example.com/a"}`: 404,
		`{"cache":"api"}`: 400,
		`{"cache":"api","url":"http://example.com/a","tag":"t"}`: 400,
		`{"cache":"api","url":"/relative"}`:                      400,
		`{"cache":"api","color":"red"}`:                          400,
		`not json`:                                               400,
	} {
		if rec := purge(body); rec.Code != want || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("purge %s = %d %q, want %d problem+json", body, rec.Code, rec.Header().Get("Content-Type"), want)
		}
	}
}
