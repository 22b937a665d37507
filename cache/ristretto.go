package cache

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// RistrettoStore is the default Store: a ristretto/v2 cache bounded in
// bytes (each entry costs Entry.Size; ristretto's internal per-item cost is
// ignored so the bound is what it says). As with any ristretto cache, a Set
// may be dropped or refused by admission, which the cache treats as a miss;
// Set waits until its entry is applied, so an admitted entry is visible to
// the next Get.
// It is safe for concurrent use, including Close concurrently with Set.
type RistrettoStore struct {
	// mu guards closed and orders Close after in-flight calls: ristretto
	// panics when Set races Close.
	mu     sync.RWMutex
	closed bool
	c      *ristretto.Cache[string, *Entry]
}

// NewRistrettoStore returns a RistrettoStore holding at most maxBytes of
// entries (0 means 64 MiB). typicalSize is the expected entry size in bytes
// used to size the admission counters (0 means 8 KiB).
func NewRistrettoStore(maxBytes, typicalSize int64) (*RistrettoStore, error) {
	if maxBytes < 0 || typicalSize < 0 {
		return nil, fmt.Errorf("cache: negative ristretto size (max %d, typical %d)", maxBytes, typicalSize)
	}
	maxBytes, typicalSize = cmp.Or(maxBytes, 64<<20), cmp.Or(typicalSize, 8<<10)
	counters := 10 * (maxBytes / typicalSize)
	if counters < 1000 {
		counters = 1000
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters:        counters,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: ristretto: %w", err)
	}
	return &RistrettoStore{c: c}, nil
}

// Get implements Store.
func (s *RistrettoStore) Get(_ context.Context, key string) (*Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false
	}
	return s.c.Get(key)
}

// Set implements Store.
func (s *RistrettoStore) Set(_ context.Context, key string, e *Entry, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		// Waiting makes the Set visible to the next Get (read-your-writes),
		// which matters right after a miss; it costs about a microsecond,
		// small beside the upstream request that preceded it.
		if s.c.SetWithTTL(key, e, e.Size(), ttl) {
			s.c.Wait()
		}
	}
}

// Delete implements Store.
func (s *RistrettoStore) Delete(_ context.Context, key string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		s.c.Del(key)
	}
}

// Wait blocks until the Sets made so far have been applied (or dropped).
func (s *RistrettoStore) Wait() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		s.c.Wait()
	}
}

// Close implements Store: it waits for in-flight calls, then stops
// ristretto's goroutines. It is idempotent.
func (s *RistrettoStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.c.Close()
	}
	return nil
}
