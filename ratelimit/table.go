package ratelimit

import (
	"crypto/sha256"
	"hash/maphash"
)

// entry is the state of one key: a GCRA theoretical arrival time per policy
// and the penalty and queue state. All fields are guarded by the shard's mu.
type entry struct {
	// tat holds, per policy, the theoretical arrival time (nanoseconds
	// since the limiter's epoch): the bucket is full when tat <= now and
	// holds (now+tau-tat)/interval tokens otherwise. For one policy it
	// points into inl, so an entry is one allocation.
	tat []int64
	inl [1]int64
	// until is the end of a penalty block (0 when not blocked).
	until int64
	// idx is the entry's position in its shard's eviction heap.
	idx int32
	// strikes counts rejections since the last admission, for the penalty.
	strikes int16
	// nq is the number of queued tickets, q their list in arrival order.
	nq int16
	q  fifo[*Ticket]
}

// pinned is the idle time of an entry with waiters: never evicted.
const pinned = int64(^uint64(0) >> 1)

// idleAt returns when e stops carrying information: every bucket full and
// no block. Evicting an entry at or after that time loses nothing.
func (e *entry) idleAt() int64 {
	if !e.q.empty() {
		return pinned
	}
	at := e.until
	for _, t := range e.tat {
		at = max(at, t)
	}
	return at
}

// shard is one lock and one map of the key table, with a min-heap of its
// entries by idle time so that eviction takes the entry that went idle
// first, or, when none is idle, the one closest to idle.
//
// The heap is kept lazily: a slot's at may lag behind its entry's idleAt
// (a decision that takes a token only raises idleAt, and is not applied to
// the heap), but never exceeds it (decreases are applied at once). The
// root's at is therefore a lower bound of every idleAt; evict refreshes a
// stale root and sifts it down until the root is exact, which is then the
// true minimum. Decisions on known keys do no heap work.
type shard struct {
	keyShard[entry] // its mu also protects heap
	heap            []slot
	_               [64]byte // keep neighbouring shards' locks on separate cache lines
}

// slot is one eviction-heap element.
type slot struct {
	at  int64 // the entry's idleAt when last touched
	e   *entry
	key string
}

// table is a sharded, bounded map from key to entry.
type table struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard
	npol   int
}

// maxKeyLen is the longest key stored as is; longer keys are replaced by
// their SHA-256 so a client cannot make each key cost kilobytes.
const maxKeyLen = 64

func newTable(maxKeys, npol int) *table {
	n := shardCount(maxKeys)
	t := &table{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]shard, n), npol: npol}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*entry)
		t.shards[i].cap = shardCap(maxKeys, n, i)
	}
	return t
}

// normKey bounds the length of stored keys.
func normKey(key string) string {
	if len(key) <= maxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + string(sum[:])
}

// shardFor returns the shard holding key.
func (t *table) shardFor(key string) *shard {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// get returns the entry for key in s, creating it with full buckets at now
// (evicting another when s is at capacity). s.mu must be held.
func (t *table) get(s *shard, key string, now int64) *entry {
	if e, ok := s.m[key]; ok {
		return e
	}
	var e *entry
	if len(s.m) >= s.cap {
		e = s.evict(now)
	}
	if e != nil { // reuse the evicted entry: steady-state eviction allocates nothing
		tat := e.tat
		*e = entry{}
		e.tat = tat
		if t.npol == 1 {
			e.tat = e.inl[:]
		}
	} else {
		e = &entry{}
		if t.npol == 1 {
			e.tat = e.inl[:]
		} else {
			e.tat = make([]int64, t.npol)
		}
	}
	for i := range e.tat {
		e.tat[i] = now
	}
	s.m[key] = e
	e.idx = int32(len(s.heap))
	s.heap = append(s.heap, slot{at: now, e: e, key: key})
	s.up(int(e.idx))
	return e
}

// evict removes the entry that became idle first; if none is idle, the
// one closest to idle (its state is lost, counted in evictedActive).
// Entries with waiters are never evicted: if only they remain, the shard
// goes over capacity (counted as overflow). It returns the evicted entry,
// for reuse, or nil. s.mu must be held.
func (s *shard) evict(now int64) *entry {
	for len(s.heap) > 0 {
		at := s.heap[0].e.idleAt()
		if at == s.heap[0].at {
			break
		}
		s.heap[0].at = at // stale: refresh and look again
		s.down(0)
	}
	if len(s.heap) == 0 || s.heap[0].at == pinned {
		s.c.overflow++
		return nil
	}
	top := s.heap[0]
	last := len(s.heap) - 1
	s.swap(0, last)
	s.heap[last] = slot{}
	s.heap = s.heap[:last]
	if last > 0 {
		s.down(0)
	}
	delete(s.m, top.key)
	s.c.evicted++
	if top.at > now {
		s.c.evictedActive++
	}
	return top.e
}

// touch records a change of e's idle time: a decrease at once, an
// increase lazily (see shard). s.mu must be held.
func (s *shard) touch(e *entry) {
	i := int(e.idx)
	if i >= len(s.heap) || s.heap[i].e != e {
		return // evicted earlier (a ticket or refund on a forgotten entry)
	}
	if at := e.idleAt(); at < s.heap[i].at {
		s.heap[i].at = at
		s.up(i)
	}
}

func (s *shard) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	h[i].e.idx = int32(i)
	h[j].e.idx = int32(j)
}

func (s *shard) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if s.heap[p].at <= s.heap[i].at {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *shard) down(i int) {
	n := len(s.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && s.heap[c+1].at < s.heap[c].at {
			c++
		}
		if s.heap[i].at <= s.heap[c].at {
			return
		}
		s.swap(i, c)
		i = c
	}
}
