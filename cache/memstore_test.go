package cache

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMemoryStoreExpiresEvictsAndBounds checks MemoryStore's contract by its
// injected clock: an entry lives exactly its TTL, the least recently used
// entries go first when the bound is passed (a Get counts as a use), an
// entry larger than the whole store or with no TTL is not stored, replacing
// a key frees the old entry's size, and Close drops everything for good.
func TestMemoryStoreExpiresEvictsAndBounds(t *testing.T) {
	ctx := context.Background()
	entry := func(body int) *Entry {
		return &Entry{Variants: []*Response{{Status: 200, Body: []byte(strings.Repeat("x", body))}}}
	}
	size := entry(100).Size() // every entry below has this size
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewMemoryStore(3*size, func() time.Time { return now })

	has := func(keys ...string) []string {
		var got []string
		for _, k := range keys {
			if _, ok := s.Get(ctx, k); ok {
				got = append(got, k)
			}
		}
		return got
	}
	for _, step := range []struct {
		name string
		do   func()
		want string // keys a Get finds afterwards, in the order a..e
		len  int    // Len after the Gets
	}{
		{"three fit", func() {
			s.Set(ctx, "a", entry(100), time.Minute)
			s.Set(ctx, "b", entry(100), time.Minute)
			s.Set(ctx, "c", entry(100), 2*time.Minute)
		}, "a b c", 3},
		{"a fourth evicts the least recently used", func() {
			s.Get(ctx, "a") // a is now more recent than b
			s.Set(ctx, "d", entry(100), time.Minute)
		}, "a c d", 3},
		{"replacing a key frees its size", func() {
			s.Set(ctx, "d", entry(100), time.Minute)
		}, "a c d", 3},
		{"no TTL and oversized entries are not stored", func() {
			s.Set(ctx, "e", entry(100), 0)
			s.Set(ctx, "b", entry(int(4*size)), time.Minute)
		}, "a c d", 3},
		{"one nanosecond before the TTL the entry lives", func() {
			now = now.Add(time.Minute - 1)
		}, "a c d", 3},
		{"at the TTL it is gone", func() {
			now = now.Add(1)
		}, "c", 1},
		{"Delete removes", func() {
			s.Delete(ctx, "c")
		}, "", 0},
		{"after Close nothing is stored", func() {
			s.Set(ctx, "a", entry(100), time.Minute)
			s.Close()
			s.Set(ctx, "b", entry(100), time.Minute)
		}, "", 0},
	} {
		step.do()
		if got := strings.Join(has("a", "b", "c", "d", "e"), " "); got != step.want {
			t.Errorf("%s: store holds %q, want %q", step.name, got, step.want)
		}
		if got := s.Len(); got != step.len {
			t.Errorf("%s: Len = %d, want %d", step.name, got, step.len)
		}
	}
}
