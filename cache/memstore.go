package cache

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"
)

// errCorrupt is returned when a stored entry cannot be decoded.
var errCorrupt = errors.New("cache: corrupt stored entry")

// MemoryStore is a deterministic in-memory Store: a Set is always applied,
// entries expire exactly at their TTL by the clock it was given, and the
// least recently used entries are evicted when the total size exceeds the
// bound. It suits tests and small deployments; the default store is the
// ristretto-backed RistrettoStore. It is safe for concurrent use.
type MemoryStore struct {
	maxBytes int64
	now      func() time.Time

	mu     sync.Mutex // guards everything below
	ll     *list.List
	items  map[string]*list.Element
	size   int64
	closed bool
}

type memItem struct {
	key     string
	e       *Entry
	size    int64
	expires time.Time
}

// NewMemoryStore returns a MemoryStore holding at most maxBytes (as counted
// by Entry.Size; 0 means 64 MiB). now is its clock for TTLs; nil means time.Now.
func NewMemoryStore(maxBytes int64, now func() time.Time) *MemoryStore {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{maxBytes: maxBytes, now: now, ll: list.New(), items: make(map[string]*list.Element)}
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) (*Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[key]
	if !ok {
		return nil, false
	}
	it := el.Value.(*memItem)
	if !s.now().Before(it.expires) {
		s.remove(el)
		return nil, false
	}
	s.ll.MoveToFront(el)
	return it.e, true
}

// Set implements Store. An entry larger than the whole store is not stored.
func (s *MemoryStore) Set(_ context.Context, key string, e *Entry, ttl time.Duration) {
	size := e.Size()
	if ttl <= 0 || size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if el, ok := s.items[key]; ok {
		s.remove(el)
	}
	s.items[key] = s.ll.PushFront(&memItem{key: key, e: e, size: size, expires: s.now().Add(ttl)})
	s.size += size
	for s.size > s.maxBytes {
		s.remove(s.ll.Back())
	}
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[key]; ok {
		s.remove(el)
	}
}

// Len returns the number of entries held, expired ones included until
// they are looked up.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// Close implements Store; it drops every entry.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.items = make(map[string]*list.Element)
	s.ll.Init()
	s.size = 0
	return nil
}

// remove unlinks el; s.mu must be held.
func (s *MemoryStore) remove(el *list.Element) {
	it := el.Value.(*memItem)
	s.ll.Remove(el)
	delete(s.items, it.key)
	s.size -= it.size
}
