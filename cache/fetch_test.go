package cache

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name, cc string
		cfg      Config
		advance  time.Duration
		wantBody string
		wantCode int
	}{
		{"within directive window", "max-age=10, stale-if-error=60", Config{}, 50 * time.Second, "good", 200},
		{"beyond directive window", "max-age=10, stale-if-error=60", Config{}, 80 * time.Second, "down", 503},
		{"config default", "max-age=10", Config{StaleIfError: 20 * time.Second}, 25 * time.Second, "good", 200},
		{"config default exceeded", "max-age=10", Config{StaleIfError: 20 * time.Second}, 31 * time.Second, "down", 503},
		{"disabled default", "max-age=10", Config{StaleIfError: -1}, 11 * time.Second, "down", 503},
		{"must-revalidate", "max-age=10, must-revalidate, stale-if-error=60", Config{}, 20 * time.Second, "down", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg, func(w http.ResponseWriter, r *http.Request, n int64) {
				if n > 1 {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Cache-Control", tc.cc)
				io.WriteString(w, "good")
			})
			f.do("GET", "http://example.com/")
			f.clk.Add(tc.advance)
			rec := f.do("GET", "http://example.com/")
			if got := strings.TrimSpace(rec.Body.String()); got != tc.wantBody || rec.Code != tc.wantCode {
				t.Fatalf("got %d %q (%q), want %d %q", rec.Code, got, ourStatus(rec.Header()), tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == 200 && !strings.Contains(ourStatus(rec.Header()), "detail=stale-if-error") {
				t.Fatalf("Cache-Status %q, want detail=stale-if-error", ourStatus(rec.Header()))
			}
		})
	}
}

// TestVariantsPerKeyBoundedNewestKept: at most maxVariants variants are kept per key, the
// oldest dropped first.
func TestVariantsPerKeyBoundedNewestKept(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "X-V")
		io.WriteString(w, r.Header.Get("X-V"))
	})
	const n = maxVariants + 4
	for i := range n {
		f.get("http://example.com/", "X-V", fmt.Sprint(i))
	}
	e, ok := f.c.Get(t.Context(), "GET http://example.com/")
	if !ok || len(e.Variants) != maxVariants {
		t.Fatalf("stored %d variants, want %d", len(e.Variants), maxVariants)
	}
	// Hits first: a miss stores its variant and evicts the oldest.
	for _, tc := range []struct {
		i   int
		hit bool
	}{{n - maxVariants, true}, {n - 1, true}, {n - maxVariants - 1, false}, {0, false}} {
		if _, status := f.get("http://example.com/", "X-V", fmt.Sprint(tc.i)); isHit(status) != tc.hit {
			t.Errorf("variant %d: %q, want hit %v", tc.i, status, tc.hit)
		}
	}
}

// privateOn304 is an origin whose first response is shareable with a
// validator and whose 304s turn the response private and per-user.
func privateOn304(cc304 string, hdr304 ...string) func(w http.ResponseWriter, r *http.Request, n int64) {
	return func(w http.ResponseWriter, r *http.Request, n int64) {
		user := r.Header.Get("X-Client")
		if r.Header.Get("If-None-Match") == `"a"` {
			w.Header().Set("Cache-Control", cc304)
			w.Header().Set("X-User", user)
			for i := 0; i+1 < len(hdr304); i += 2 {
				w.Header().Add(hdr304[i], hdr304[i+1])
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"a"`)
		io.WriteString(w, "page for "+user)
	}
}

// TestRevalidation304NotShareable: a 304 whose merged header may not be
// stored (private, Set-Cookie, ...) answers only the client that caused it;
// the entry is purged and the next client goes upstream itself.
func TestRevalidation304NotShareable(t *testing.T) {
	for _, tc := range []struct {
		name, cc304, detail string
		hdr304              []string
	}{
		{"private", "private, max-age=600", "detail=private", nil},
		{"no-store", "no-store, max-age=600", "detail=no-store", nil},
		{"set-cookie", "max-age=600", "detail=set-cookie", []string{"Set-Cookie", "sid=alice"}},
		{"vary-star", "max-age=600", "detail=vary-star", []string{"Vary", "*"}},
		{"shareable", "max-age=600", "", nil}, // control: refreshed and shared
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{}, privateOn304(tc.cc304, tc.hdr304...))
			f.do("GET", "http://example.com/", "X-Client", "anon")
			f.clk.Add(5 * time.Second)
			rec := f.do("GET", "http://example.com/", "X-Client", "alice")
			if rec.Code != 200 || rec.Body.String() != "page for anon" || rec.Header().Get("X-User") != "alice" {
				t.Fatalf("alice: %d %q X-User %q", rec.Code, rec.Body, rec.Header().Get("X-User"))
			}
			if tc.name == "set-cookie" && rec.Header().Get("Set-Cookie") != "sid=alice" {
				t.Fatalf("alice: Set-Cookie %q, want her own cookie", rec.Header().Get("Set-Cookie"))
			}
			if st := ourStatus(rec.Header()); !strings.Contains(st, "fwd-status=304") || (tc.detail != "" && !strings.Contains(st, tc.detail)) {
				t.Fatalf("alice: Cache-Status %q, want fwd-status=304 and %q", st, tc.detail)
			}
			rec = f.do("GET", "http://example.com/", "X-Client", "bob")
			if tc.detail == "" {
				if !isHit(ourStatus(rec.Header())) {
					t.Fatalf("control: bob %q, want a hit of the refreshed entry", ourStatus(rec.Header()))
				}
				return
			}
			if got := rec.Header().Get("X-User"); got == "alice" || isHit(ourStatus(rec.Header())) {
				t.Fatalf("bob got alice's 304 header: X-User %q, Cache-Status %q", got, ourStatus(rec.Header()))
			}
			if rec.Body.String() != "page for bob" {
				t.Fatalf("bob: body %q, want his own full response after the purge", rec.Body)
			}
		})
	}
}

// TestNoStoreRequestDoesNotRefresh: a request with no-store that
// revalidates a stale entry gets the answer but leaves the entry as it was.
func TestNoStoreRequestDoesNotRefresh(t *testing.T) {
	f := newFixture(t, Config{}, privateOn304("max-age=600"))
	f.do("GET", "http://example.com/", "X-Client", "anon")
	f.clk.Add(5 * time.Second)
	rec := f.do("GET", "http://example.com/", "X-Client", "alice", "Cache-Control", "no-store")
	if rec.Code != 200 || rec.Body.String() != "page for anon" {
		t.Fatalf("no-store client: %d %q", rec.Code, rec.Body)
	}
	if st := ourStatus(rec.Header()); !strings.Contains(st, "detail=request-no-store") {
		t.Fatalf("no-store client: Cache-Status %q", st)
	}
	e, ok := f.c.Get(t.Context(), "GET http://example.com/")
	if !ok || e.Variants[0].Header.Get("X-User") != "" || e.Variants[0].Lifetime != time.Second {
		t.Fatalf("entry after a no-store revalidation: %v %+v, want the old one unchanged", ok, e)
	}
}

// TestHeadResponseFreshensStoredGet: a HEAD forwarded for a stale stored
// GET response updates it like a 304 would (RFC 9111 §4.3.5) when the
// validators agree: the HEAD gets the stored fields it did not receive,
// and a GET after it is a hit. A HEAD whose validators differ only passes.
func TestHeadResponseFreshensStoredGet(t *testing.T) {
	for _, tt := range []struct {
		name     string
		headETag string
		freshens bool
	}{
		{"same validators", `"a"`, true},
		{"other entity tag", `"b"`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Date", t0.Format(http.TimeFormat))
				if r.Method == http.MethodHead {
					w.Header().Set("Cache-Control", "max-age=1000")
					w.Header().Set("ETag", tt.headETag)
					return
				}
				w.Header().Set("Cache-Control", "max-age=2")
				w.Header().Set("ETag", `"a"`)
				w.Header().Set("Template-A", "1")
				io.WriteString(w, "v"+itoa(time.Duration(n)*time.Second))
			})
			f.get("http://example.com/")
			f.clk.Add(3 * time.Second)
			rec := f.do("HEAD", "http://example.com/")
			if got := f.o.last.Load().Method; got != "HEAD" {
				t.Fatalf("upstream saw %s, want the HEAD", got)
			}
			if tt.freshens != (rec.Header().Get("Template-A") == "1") || rec.Body.Len() != 0 || rec.Code != 200 {
				t.Fatalf("HEAD: %d, Template-A %q, body %q", rec.Code, rec.Header().Get("Template-A"), rec.Body)
			}
			body, st := f.get("http://example.com/")
			if tt.freshens != isHit(st) || tt.freshens != (body == "v1") {
				t.Fatalf("GET after the HEAD: %q %q", body, st)
			}
		})
	}
}
