package cache

import (
	"context"
	"strings"
)

// Purge removes the entry stored under key (all its variants) and reports
// whether this Cache had indexed it. As with PurgePrefix, a store that is
// not a Purger is asked to delete only an entry this Cache stored (its
// index holds every such key), so that the invalidation every successful
// POST or PUT causes costs a map lookup, not a store write, when nothing
// is stored for its URI; a shared store (a Purger) is always asked, since
// other instances may have stored the entry.
func (c *Cache) Purge(ctx context.Context, key string) bool {
	c.mu.Lock()
	_, ok := c.index[key]
	c.unindexLocked(key)
	c.mu.Unlock()
	if _, shared := c.store.(Purger); ok || shared {
		c.store.Delete(ctx, key)
	}
	return ok
}

// PurgePrefix removes every entry whose key, without the method, starts
// with prefix (e.g. "https://example.com/api/"), and returns how many it
// removed: the entries this Cache stored, or every matching entry when the
// store is a Purger.
func (c *Cache) PurgePrefix(ctx context.Context, prefix string) int {
	var keys []string
	c.mu.Lock()
	for k := range c.index {
		_, url, _ := strings.Cut(k, " ")
		if strings.HasPrefix(url, prefix) {
			keys = append(keys, k)
		}
	}
	return c.purgeLocked(ctx, keys, func(p Purger) (int, error) { return p.PurgePrefix(ctx, prefix) })
}

// PurgeTag removes every entry that carried tag in its Surrogate-Key or
// Cache-Tag response header, and returns how many: the entries this Cache
// stored, or every such entry when the store is a Purger.
func (c *Cache) PurgeTag(ctx context.Context, tag string) int {
	var keys []string
	c.mu.Lock()
	for k := range c.tagIndex[tag] {
		keys = append(keys, k)
	}
	return c.purgeLocked(ctx, keys, func(p Purger) (int, error) { return p.PurgeTag(ctx, tag) })
}

// purgeLocked unindexes keys, releases c.mu (held by the caller), deletes
// the keys from the store, and lets a shared store purge the entries other
// instances stored with remote. It returns how many entries were removed.
func (c *Cache) purgeLocked(ctx context.Context, keys []string, remote func(Purger) (int, error)) int {
	for _, k := range keys {
		c.unindexLocked(k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.store.Delete(ctx, k)
	}
	if p, ok := c.store.(Purger); ok {
		if n, err := remote(p); err == nil {
			return len(keys) + n
		}
	}
	return len(keys)
}

// indexKey records key and its tags. When the index is full an arbitrary
// other key is dropped from the index and the store, so that a purge never
// misses an entry that is still stored.
func (c *Cache) indexKey(ctx context.Context, key string, tagList []string) {
	var evicted string
	c.mu.Lock()
	c.unindexLocked(key)
	if len(c.index) >= c.cfg.MaxKeys {
		for k := range c.index {
			evicted = k
			break
		}
		c.unindexLocked(evicted)
	}
	c.index[key] = indexed{tags: tagList, gen: c.indexGen.Add(1)}
	for _, t := range tagList {
		m := c.tagIndex[t]
		if m == nil {
			m = make(map[string]struct{})
			c.tagIndex[t] = m
		}
		m[key] = struct{}{}
	}
	c.mu.Unlock()
	if evicted != "" {
		c.store.Delete(ctx, evicted)
	}
}

// An indexed key: its tags and the generation of its indexing.
type indexed struct {
	tags []string
	gen  uint64
}

// forget drops key from the index after the store missed it (evicted or
// expired), so the index does not fill with keys that are gone. gen is
// c.indexGen read before the store lookup: an indexing newer than the
// miss (a concurrent Set) is kept.
func (c *Cache) forget(key string, gen uint64) {
	c.mu.Lock()
	if ix, ok := c.index[key]; ok && ix.gen <= gen {
		c.unindexLocked(key)
	}
	c.mu.Unlock()
}

// unindexLocked forgets key; c.mu must be held.
func (c *Cache) unindexLocked(key string) {
	ix, ok := c.index[key]
	if !ok {
		return
	}
	delete(c.index, key)
	for _, t := range ix.tags {
		if m := c.tagIndex[t]; m != nil {
			delete(m, key)
			if len(m) == 0 {
				delete(c.tagIndex, t)
			}
		}
	}
}
