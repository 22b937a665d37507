package ratelimit

import (
	"slices"
	"testing"
)

// node is a minimal fifo waiter.
type node struct {
	id   int
	link links[*node]
}

func (n *node) links() *links[*node] { return &n.link }

func ids(q *fifo[*node]) []int {
	var out []int
	for n := q.head; n != nil; n = n.link.next {
		out = append(out, n.id)
	}
	// The list must read the same backwards.
	var back []int
	for n := q.tail; n != nil; n = n.link.prev {
		back = append(back, n.id)
	}
	slices.Reverse(back)
	if !slices.Equal(out, back) {
		return append(out, -1) // a broken back link shows as a mismatch
	}
	return out
}

// TestFIFOKeepsArrivalOrder pushes waiters and removes them from the head,
// the middle and the tail: the rest stay in arrival order, forwards and
// backwards, and remove reports which was the head.
func TestFIFOKeepsArrivalOrder(t *testing.T) {
	var q fifo[*node]
	if !q.empty() {
		t.Fatal("zero fifo not empty")
	}
	ns := make([]*node, 5)
	for i := range ns {
		ns[i] = &node{id: i}
		q.push(ns[i])
	}
	steps := []struct {
		remove   int
		wasHead  bool
		wantLeft []int
	}{
		{2, false, []int{0, 1, 3, 4}},
		{0, true, []int{1, 3, 4}},
		{4, false, []int{1, 3}},
		{1, true, []int{3}},
		{3, true, nil},
	}
	for _, s := range steps {
		if got := q.remove(ns[s.remove]); got != s.wasHead {
			t.Errorf("remove(%d) = %v, want wasHead %v", s.remove, got, s.wasHead)
		}
		if got := ids(&q); !slices.Equal(got, s.wantLeft) {
			t.Fatalf("after remove(%d): %v, want %v", s.remove, got, s.wantLeft)
		}
	}
	if !q.empty() || q.tail != nil {
		t.Error("fifo not empty after removing everything")
	}
	q.push(ns[1]) // a removed waiter can queue again
	if got := ids(&q); !slices.Equal(got, []int{1}) {
		t.Errorf("re-pushed: %v", got)
	}
}

// TestTotalSumsEveryShard checks that total adds every counter and key
// count of every shard.
func TestTotalSumsEveryShard(t *testing.T) {
	shards := make([]shard, 3)
	for i := range shards {
		shards[i].m = map[string]*entry{}
		for k := range i + 1 {
			shards[i].m[string(rune('a'+k))] = &entry{}
		}
		shards[i].c = counters{allowed: 1, rejected: 2, limitedDryRun: 3, blocked: 4, queued: 5, queueRejected: 6,
			queueExpired: 7, cancelled: 8, evicted: 9, evictedActive: 10, overflow: 11, waiting: 12, inFlight: 13}
	}
	c, keys := total(shards)
	want := counters{allowed: 3, rejected: 6, limitedDryRun: 9, blocked: 12, queued: 15, queueRejected: 18,
		queueExpired: 21, cancelled: 24, evicted: 27, evictedActive: 30, overflow: 33, waiting: 36, inFlight: 39}
	if c != want || keys != 6 {
		t.Errorf("total = %+v, %d keys; want %+v, 6 keys", c, keys, want)
	}
}

// TestShardCapsAddUpToMaxKeys checks that the shards of a table hold
// exactly MaxKeys between them, in a power-of-two count of at most 64.
func TestShardCapsAddUpToMaxKeys(t *testing.T) {
	for _, maxKeys := range []int{1, 63, 64, 65, 4096, 100_000, 1_000_003} {
		n := shardCount(maxKeys)
		sum := 0
		for i := range n {
			sum += shardCap(maxKeys, n, i)
		}
		if n < 1 || n > 64 || n&(n-1) != 0 || sum != maxKeys {
			t.Errorf("maxKeys %d: %d shards holding %d keys", maxKeys, n, sum)
		}
	}
}
