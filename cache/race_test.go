package cache

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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
