package cache

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConditional(t *testing.T) {
	lm := t0.Add(-time.Hour).Format(http.TimeFormat)
	var conds []string
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		conds = append(conds, r.Header.Get("If-None-Match")+"|"+r.Header.Get("If-Modified-Since"))
		w.Header().Set("Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"a"`)
		w.Header().Set("Last-Modified", lm)
		w.Header().Set("X-Version", itoa(time.Duration(n)*time.Second))
		if r.Header.Get("If-None-Match") == `"a"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
	})
	f.do("GET", "http://example.com/")
	for _, tc := range []struct {
		hdr  []string
		code int
	}{
		{[]string{"If-None-Match", `"a"`}, 304},
		{[]string{"If-None-Match", `W/"a", "b"`}, 304},
		{[]string{"If-None-Match", `"b"`}, 200},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-Modified-Since", t0.Format(http.TimeFormat)}, 304},
		{[]string{"If-Modified-Since", t0.Add(-2 * time.Hour).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"b"`, "If-Modified-Since", t0.Format(http.TimeFormat)}, 200},
	} {
		rec := f.do("GET", "http://example.com/", tc.hdr...)
		if rec.Code != tc.code || !isHit(ourStatus(rec.Header())) {
			t.Errorf("%q: %d %q, want %d from cache", tc.hdr, rec.Code, ourStatus(rec.Header()), tc.code)
		}
		if tc.code == 304 && (rec.Body.Len() != 0 || rec.Header().Get("ETag") != `"a"`) {
			t.Errorf("%q: 304 with body %q, ETag %q", tc.hdr, rec.Body, rec.Header().Get("ETag"))
		}
	}
	if n := f.o.n.Load(); n != 1 {
		t.Fatalf("origin saw %d requests, want 1", n)
	}
	// Without Last-Modified, If-Modified-Since is compared with Date.
	g := newFixture(t, Config{}, headers("Cache-Control", "max-age=60"))
	g.do("GET", "http://example.com/")
	if rec := g.do("GET", "http://example.com/", "If-Modified-Since", t0.Format(http.TimeFormat)); rec.Code != 304 {
		t.Fatalf("If-Modified-Since >= Date: %d, want 304", rec.Code)
	}
	// Stale: revalidated with the stored validators; the 304 refreshes it.
	f.clk.Add(20 * time.Second)
	rec := f.do("GET", "http://example.com/")
	if rec.Code != 200 || rec.Body.String() != "body" || rec.Header().Get("X-Version") != "2" {
		t.Fatalf("revalidated: %d %q X-Version %q, want 200 body 2", rec.Code, rec.Body, rec.Header().Get("X-Version"))
	}
	if got := ourStatus(rec.Header()); got != "gatekit; fwd=stale; fwd-status=304; ttl=10" {
		t.Fatalf("revalidated: Cache-Status %q", got)
	}
	if want := `"a"|` + lm; conds[1] != want {
		t.Fatalf("conditional request sent %q, want %q", conds[1], want)
	}
	f.clk.Add(5 * time.Second)
	rec = f.do("GET", "http://example.com/")
	if !isHit(ourStatus(rec.Header())) || rec.Header().Get("X-Version") != "2" || rec.Header().Get("Age") != "5" {
		t.Fatalf("after refresh: %q X-Version %q Age %q", ourStatus(rec.Header()), rec.Header().Get("X-Version"), rec.Header().Get("Age"))
	}
	// A conditional client request on a stale entry gets 304 after revalidation.
	f.clk.Add(10 * time.Second)
	if rec := f.do("GET", "http://example.com/", "If-None-Match", `"a"`); rec.Code != 304 {
		t.Fatalf("conditional on stale: %d, want 304", rec.Code)
	}
}

// TestEntityTagQuoting: entity tags sent without their quotes by a client
// or an origin still match, and the cache sends them quoted upstream.
func TestEntityTagQuoting(t *testing.T) {
	tests := []struct {
		name, stored, inm string
	}{
		{"unquoted request, quoted stored", `"abc"`, "abc"},
		{"quoted request, unquoted stored", "abc", `"abc"`},
		{"weak request, unquoted stored", "abc", `W/"abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{}, headers("Cache-Control", "max-age=60", "ETag", tt.stored))
			f.get("http://example.com/")
			if rec := f.do("GET", "http://example.com/", "If-None-Match", tt.inm); rec.Code != http.StatusNotModified {
				t.Fatalf("If-None-Match %s on stored ETag %s: %d, want 304", tt.inm, tt.stored, rec.Code)
			}
		})
	}
	t.Run("revalidation quotes a stored unquoted tag", func(t *testing.T) {
		f := newFixture(t, Config{}, headers("Cache-Control", "max-age=1", "ETag", "abc"))
		f.get("http://example.com/")
		f.clk.Add(2 * time.Second)
		f.get("http://example.com/")
		if got := f.o.last.Load().Header.Get("If-None-Match"); got != `"abc"` {
			t.Fatalf("revalidation sent If-None-Match %q", got)
		}
	})
	t.Run("a client's unquoted tags are forwarded quoted", func(t *testing.T) {
		f := newFixture(t, Config{}, headers("Cache-Control", "max-age=60"))
		f.get("http://example.com/", "If-None-Match", `abc, W/"d", "e", *`)
		if got := f.o.last.Load().Header.Get("If-None-Match"); got != `"abc", W/"d", "e", *` {
			t.Fatalf("forwarded If-None-Match %q", got)
		}
	})
}

// FuzzQuoteTags checks that quoting client entity tags is idempotent and
// keeps every tag matching itself.
func FuzzQuoteTags(f *testing.F) {
	for _, s := range []string{`abc, W/"d", "e", *`, `"a"`, "W/x", ",,", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, _ := quoteTags([]string{s})
		if again, changed := quoteTags([]string{q}); changed || again != q {
			t.Fatalf("%q -> %q -> %q (changed %v)", s, q, again, changed)
		}
		for tag := range strings.SplitSeq(s, ",") {
			if tag = strings.TrimSpace(tag); tag != "" && tag != "*" && !strings.Contains(tag, `"`) && !etagMatch([]string{q}, tag) {
				t.Fatalf("%q no longer matches after quoting: %q", tag, q)
			}
		}
	})
}
