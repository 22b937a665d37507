package ratelimit

import (
	"crypto/sha256"
	"hash/maphash"
	"sync"
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
	// strikes counts rejections since the last admission, for the penalty.
	strikes int32
	// nq is the number of queued tickets, head..tail their FIFO list.
	nq         int32
	head, tail *Ticket
}

// idle reports whether e carries no information: every bucket full, no
// block, no waiter. Evicting an idle entry loses nothing.
func (e *entry) idle(now int64) bool {
	if e.head != nil || e.until > now {
		return false
	}
	for _, t := range e.tat {
		if t > now {
			return false
		}
	}
	return true
}

// debt returns how much state evicting e would lose: the time until it is
// idle. Entries with waiters are pinned and report ok=false.
func (e *entry) debt(now int64) (d int64, ok bool) {
	if e.head != nil {
		return 0, false
	}
	d = e.until - now
	for _, t := range e.tat {
		d = max(d, t-now)
	}
	return d, true
}

// counters are a shard's share of Stats, guarded by the shard's mu so that
// the decision path touches no shared cache line.
type counters struct {
	allowed, rejected, limitedDryRun, blocked, queued, queueRejected, queueExpired, cancelled uint64
	evicted, evictedActive, overflow                                                          uint64
}

// shard is one lock and one map of the key table.
type shard struct {
	// mu protects m, every entry in it, every Ticket of those entries and c.
	mu  sync.Mutex
	m   map[string]*entry
	cap int
	c   counters
	_   [64]byte // keep neighbouring shards' locks on separate cache lines
}

// table is a sharded, bounded map from key to entry.
type table struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard
	npol   int
}

// evictSample is how many entries are examined to choose a victim when a
// full shard receives a new key.
const evictSample = 16

// maxKeyLen is the longest key stored as is; longer keys are replaced by
// their SHA-256 so a client cannot make each key cost kilobytes.
const maxKeyLen = 64

func newTable(maxKeys, npol int) *table {
	n := 1
	for n < 64 && n*64 < maxKeys { // at least ~64 keys per shard
		n <<= 1
	}
	t := &table{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]shard, n), npol: npol}
	for i := range t.shards {
		c := maxKeys / n
		if i < maxKeys%n {
			c++
		}
		t.shards[i] = shard{m: make(map[string]*entry), cap: c}
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
	if len(s.m) >= s.cap {
		s.evict(now)
	}
	e := &entry{}
	if t.npol == 1 {
		e.tat = e.inl[:]
	} else {
		e.tat = make([]int64, t.npol)
	}
	for i := range e.tat {
		e.tat[i] = now
	}
	s.m[key] = e
	return e
}

// evict removes one entry from s: the first idle entry among a random
// sample, else the sampled entry losing the least state. Entries with
// waiters are never evicted; if the sample holds nothing else, the shard
// goes over capacity by one (counted as overflow). s.mu must be held.
func (s *shard) evict(now int64) {
	var victim string
	best, found, n := int64(0), false, 0
	for k, e := range s.m { // map iteration starts at a random position
		if e.idle(now) {
			delete(s.m, k)
			s.c.evicted++
			return
		}
		if d, ok := e.debt(now); ok && (!found || d < best) {
			victim, best, found = k, d, true
		}
		if n++; n >= evictSample {
			break
		}
	}
	if !found {
		s.c.overflow++
		return
	}
	delete(s.m, victim)
	s.c.evicted++
	s.c.evictedActive++
}
