package cache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hookStore is a MemoryStore whose Get calls afterGet, once, between
// reading the entry and returning it.
type hookStore struct {
	*MemoryStore
	afterGet func()
}

func (s *hookStore) Get(ctx context.Context, key string) (*Entry, bool) {
	e, ok := s.MemoryStore.Get(ctx, key)
	if h := s.afterGet; h != nil {
		s.afterGet = nil
		h()
	}
	return e, ok
}

// TestForgetDoesNotDropNewerIndexing: a miss that observed "no entry"
// before a concurrent Set stored and indexed one must not drop that
// indexing when it forgets the key, or a later PurgeTag misses the entry.
func TestForgetDoesNotDropNewerIndexing(t *testing.T) {
	clk := &clock{t: t0}
	store := &hookStore{MemoryStore: NewMemoryStore(0, clk.Now)}
	c, err := New(store, Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // the miss stores nothing itself
		io.WriteString(w, "x")
	}))
	const key = "GET http://example.com/a"
	e := &Entry{Variants: []*Response{{Status: 200, Lifetime: time.Hour, ResponseTime: t0, Tags: []string{"t"}}}}
	store.afterGet = func() { c.Set(context.Background(), key, e) } // lands after the miss was read
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/a", nil))
	if _, ok := store.MemoryStore.Get(context.Background(), key); !ok {
		t.Fatal("the concurrent Set was not stored")
	}
	if n := c.PurgeTag(context.Background(), "t"); n != 1 {
		t.Fatalf("PurgeTag removed %d entries, want 1", n)
	}
	if _, ok := store.MemoryStore.Get(context.Background(), key); ok {
		t.Fatal("the entry survived PurgeTag")
	}
}

func TestPurge(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "all "+strings.Trim(r.URL.Path, "/"))
		w.Header().Set("Cache-Tag", "path:"+r.URL.Path+", x")
		fmt.Fprintf(w, "v%d", n)
	})
	urls := []string{"http://example.com/api/a", "http://example.com/api/b", "http://example.com/web/c", "http://example.com/web/d"}
	fill := func() {
		for _, u := range urls {
			f.get(u)
		}
	}
	hits := func() (n int) {
		for _, u := range urls {
			if _, s := f.get(u); isHit(s) {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		purge func() int
		want  int // removed
		left  int // hits afterwards
	}{
		{"key", func() int {
			if f.c.Purge(ctx, f.c.Key(httptest.NewRequest("GET", urls[0], nil))) {
				return 1
			}
			return 0
		}, 1, 3},
		{"prefix", func() int { return f.c.PurgePrefix(ctx, "http://example.com/api/") }, 2, 2},
		{"surrogate key", func() int { return f.c.PurgeTag(ctx, "web/c") }, 1, 3},
		{"cache tag", func() int { return f.c.PurgeTag(ctx, "path:/web/d") }, 1, 3},
		{"shared tag", func() int { return f.c.PurgeTag(ctx, "all") }, 4, 0},
		{"unknown", func() int { return f.c.PurgeTag(ctx, "nope") }, 0, 4},
	}
	for _, tc := range tests {
		fill()
		if got := hits(); got != 4 {
			t.Fatalf("%s: %d hits before purge, want 4", tc.name, got)
		}
		if got := tc.purge(); got != tc.want {
			t.Errorf("%s: purged %d, want %d", tc.name, got, tc.want)
		}
		if got := hits(); got != tc.left {
			t.Errorf("%s: %d hits after purge, want %d", tc.name, got, tc.left)
		}
	}
}

func TestIndexedKeysBounded(t *testing.T) {
	f := newFixture(t, Config{MaxKeys: 3}, headers("Cache-Control", "max-age=600", "Surrogate-Key", "all"))
	for i := range 5 {
		f.get(fmt.Sprintf("http://example.com/%d", i))
	}
	if n := f.store.Len(); n != 3 {
		t.Fatalf("store holds %d entries, want MaxKeys 3", n)
	}
	if n := f.c.PurgeTag(context.Background(), "all"); n != 3 {
		t.Fatalf("PurgeTag removed %d, want 3", n)
	}
	if n := f.store.Len(); n != 0 {
		t.Fatalf("store holds %d entries after purging every indexed key", n)
	}
	// A key the store lost is forgotten by the index on the next miss.
	f.get("http://example.com/x")
	f.store.Delete(context.Background(), "GET http://example.com/x")
	f.get("http://example.com/x", "Cache-Control", "no-store") // a miss that stores nothing
	if f.c.Purge(context.Background(), "GET http://example.com/x") {
		t.Fatal("the index still held a key its store had lost")
	}
}

// deleteCounter is a MemoryStore that counts Delete calls.
type deleteCounter struct {
	*MemoryStore
	deletes int
}

func (s *deleteCounter) Delete(ctx context.Context, key string) {
	s.deletes++
	s.MemoryStore.Delete(ctx, key)
}

// sharedCounter is a deleteCounter that is a Purger, as a store shared
// between instances is.
type sharedCounter struct{ *deleteCounter }

func (sharedCounter) PurgePrefix(context.Context, string) (int, error) { return 0, nil }
func (sharedCounter) PurgeTag(context.Context, string) (int, error)    { return 0, nil }

// TestPurgeAsksTheStoreOnlyWhenItMayHoldTheEntry: purging a key this Cache
// never stored (every POST to an uncached URI does) leaves a private store
// alone, but still reaches a shared one, where another instance may have
// stored it; a stored key is deleted from either.
func TestPurgeAsksTheStoreOnlyWhenItMayHoldTheEntry(t *testing.T) {
	ctx := context.Background()
	e := &Entry{Variants: []*Response{{Status: 200, Lifetime: time.Hour, ResponseTime: t0}}}
	for _, tc := range []struct {
		name  string
		store func(*deleteCounter) Store
		want  int // deletes for the unknown key
	}{
		{"private", func(d *deleteCounter) Store { return d }, 0},
		{"shared", func(d *deleteCounter) Store { return sharedCounter{d} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			d := &deleteCounter{MemoryStore: NewMemoryStore(0, clk.Now)}
			c, err := New(tc.store(d), Config{Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Purge(ctx, "POST http://example.com/never") {
				t.Fatal("Purge reported an unknown key as indexed")
			}
			if d.deletes != tc.want {
				t.Fatalf("%d store deletes for a key never stored, want %d", d.deletes, tc.want)
			}
			c.Set(ctx, "GET http://example.com/a", e)
			if !c.Purge(ctx, "GET http://example.com/a") || d.deletes != tc.want+1 {
				t.Fatalf("a stored key: %d store deletes, want %d", d.deletes, tc.want+1)
			}
			if _, ok := d.MemoryStore.Get(ctx, "GET http://example.com/a"); ok {
				t.Fatal("the stored entry survived Purge")
			}
		})
	}
}
