package ratelimit

import "sync"

// This file holds what the rate limiter (Limiter) and the concurrency
// limiter (Concurrency) share: a sharded key map with its counters, and
// the first-in first-out list of requests waiting on one key.

// keyShard is one lock and one map of a sharded key table, with the
// shard's share of the counters. Keeping counters per shard, under the
// shard's lock, means the decision path touches no shared cache line.
type keyShard[E any] struct {
	// mu protects m, the entries in it (and their waiters) and c.
	mu  sync.Mutex
	m   map[string]*E
	cap int // the most keys m holds before evicting or refusing
	c   counters
}

// snapshot returns the shard's counters and key count, read under its lock.
func (s *keyShard[E]) snapshot() (counters, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c, len(s.m)
}

// shardCount returns how many shards a table of maxKeys keys gets: a power
// of two, at most 64, with at least ~64 keys per shard.
func shardCount(maxKeys int) int {
	n := 1
	for n < 64 && n*64 < maxKeys {
		n <<= 1
	}
	return n
}

// shardCap returns the capacity of shard i of n sharing maxKeys.
func shardCap(maxKeys, n, i int) int {
	c := maxKeys / n
	if i < maxKeys%n {
		c++
	}
	return c
}

// counters are a shard's cumulative counts and gauges. A field a limiter
// has no use for stays zero.
type counters struct {
	allowed, rejected, limitedDryRun, blocked      uint64
	queued, queueRejected, queueExpired, cancelled uint64
	evicted, evictedActive, overflow               uint64
	waiting, inFlight                              int64 // gauges: queued now, slots held now
}

// add adds o to c.
func (c *counters) add(o *counters) {
	c.allowed += o.allowed
	c.rejected += o.rejected
	c.limitedDryRun += o.limitedDryRun
	c.blocked += o.blocked
	c.queued += o.queued
	c.queueRejected += o.queueRejected
	c.queueExpired += o.queueExpired
	c.cancelled += o.cancelled
	c.evicted += o.evicted
	c.evictedActive += o.evictedActive
	c.overflow += o.overflow
	c.waiting += o.waiting
	c.inFlight += o.inFlight
}

// total sums the counters and key counts of shards, locking each in turn.
func total[S any, P interface {
	*S
	snapshot() (counters, int)
}](shards []S) (sum counters, keys int) {
	for i := range shards {
		c, n := P(&shards[i]).snapshot()
		sum.add(&c)
		keys += n
	}
	return sum, keys
}

// links are a waiter's neighbours in a fifo.
type links[W any] struct{ prev, next W }

// waiter is what a fifo holds: a pointer to a value that carries its own
// links, so that queueing allocates nothing beyond the waiter itself.
type waiter[W any] interface {
	comparable
	links() *links[W]
}

// fifo is an intrusive first-in first-out list of the requests waiting on
// one key. The zero fifo is empty. It is guarded by its shard's lock. It
// keeps no count: the entry holding it does, in a field sized to pack
// with its others (a count here would cost every key 8 bytes).
type fifo[W waiter[W]] struct {
	head, tail W
}

// empty reports whether q holds no waiter.
func (q *fifo[W]) empty() bool {
	var zero W
	return q.head == zero
}

// push appends w to q.
func (q *fifo[W]) push(w W) {
	var zero W
	w.links().prev = q.tail
	if q.tail != zero {
		q.tail.links().next = w
	} else {
		q.head = w
	}
	q.tail = w
}

// remove takes w, which q must hold, out of q and reports whether it was
// the head.
func (q *fifo[W]) remove(w W) (wasHead bool) {
	var zero W
	l := w.links()
	wasHead = q.head == w
	if l.prev != zero {
		l.prev.links().next = l.next
	} else {
		q.head = l.next
	}
	if l.next != zero {
		l.next.links().prev = l.prev
	} else {
		q.tail = l.prev
	}
	l.prev, l.next = zero, zero
	return wasHead
}
