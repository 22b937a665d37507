package balancer

import (
	"sync"
	"sync/atomic"
)

// snapshotCache caches a policy's state computed from one pool snapshot (a
// Maglev table, per-target nodes). It is rebuilt lazily, by the first pick
// that sees a new snapshot; other picks keep reading without locks.
type snapshotCache[T any] struct {
	mu  sync.Mutex // serialises rebuilds
	cur atomic.Pointer[snapshotCacheEntry[T]]
}

type snapshotCacheEntry[T any] struct {
	snap *snapshot
	v    T
}

// get returns the state for s, building it with build (which receives the
// previous state, or the zero T) when s is newer than the cached one.
func (d *snapshotCache[T]) get(s *snapshot, build func(s *snapshot, prev T) T) T {
	if e := d.cur.Load(); e != nil && e.snap == s {
		return e.v
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.cur.Load()
	if e != nil && e.snap == s {
		return e.v
	}
	var prev T
	if e != nil {
		if e.snap.version > s.version {
			return e.v // a newer snapshot was published meanwhile; keep it
		}
		prev = e.v
	}
	v := build(s, prev)
	d.cur.Store(&snapshotCacheEntry[T]{snap: s, v: v})
	return v
}

// peek returns the state for s like get, except that while another pick
// is rebuilding it returns the previous state and stale=true instead of
// waiting (a Maglev table takes milliseconds to build).
func (d *snapshotCache[T]) peek(s *snapshot, build func(s *snapshot, prev T) T) (v T, stale bool) {
	e := d.cur.Load()
	if e != nil && e.snap == s {
		return e.v, false
	}
	if e != nil && !d.mu.TryLock() {
		return e.v, true
	}
	if e != nil {
		d.mu.Unlock()
	}
	return d.get(s, build), false
}
