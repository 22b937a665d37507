package ratelimit

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEvictIdleFirst(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second, Burst: 2}}, MaxKeys: 64})
	// 32 busy keys (empty buckets) and 32 that have idled back to full.
	for i := range 64 {
		at := t0
		if i >= 32 {
			at = t0.Add(-time.Hour)
		}
		k := strconv.Itoa(i)
		l.AllowAt(k, at)
		l.AllowAt(k, at)
	}
	for i := range 32 { // 32 new keys at t0 must evict exactly the idle ones
		l.AllowAt("new"+strconv.Itoa(i), t0)
	}
	st := l.Stats()
	if st.Keys != 64 || st.Evicted != 32 || st.EvictedActive != 0 {
		t.Fatalf("Stats = %+v, want 64 keys, 32 idle evictions", st)
	}
	for i := range 32 {
		if l.AllowAt(strconv.Itoa(i), t0).Allowed {
			t.Fatalf("busy key %d was evicted (its empty bucket came back full)", i)
		}
	}
	// With only busy keys left, the table still stays bounded.
	for i := range 1000 {
		l.AllowAt("more"+strconv.Itoa(i), t0)
	}
	if st := l.Stats(); st.Keys > 64 || st.EvictedActive == 0 {
		t.Fatalf("Stats = %+v, want at most 64 keys", st)
	}
}

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// keyExplosion is the number of distinct clients the key-explosion tests
// send: one million, scaled down under the race detector (where each
// decision is ~10× slower); BenchmarkAllowMillionKeys runs the full million
// in every mode.
func keyExplosion() int {
	if raceEnabled {
		return 100_000
	}
	return 1_000_000
}

func TestMillionRandomIPv4(t *testing.T) {
	const maxKeys = 100_000
	l := mustNew(t, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20}}})
	before := heapAfterGC()
	rng := rand.New(rand.NewPCG(3, 4))
	var b [4]byte
	n := keyExplosion()
	for i := range n {
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		// Each client sends one request; time advances 1µs per request.
		if !l.AllowAt(netip.AddrFrom4(b).String(), t0.Add(time.Duration(i)*time.Microsecond)).Allowed {
			t.Fatalf("request %d of a fresh client rejected", i)
		}
	}
	st := l.Stats()
	grown := int64(heapAfterGC()) - int64(before)
	t.Logf("%d clients: %+v, heap +%d B (%d B/key)", n, st, grown, grown/int64(max(st.Keys, 1)))
	if st.Keys > maxKeys || st.Keys < maxKeys*9/10 {
		t.Errorf("Keys = %d, want about %d (bounded)", st.Keys, maxKeys)
	}
	if grown > 300*maxKeys {
		t.Errorf("heap grew %d B for %d keys, want under 300 B/key", grown, st.Keys)
	}
	runtime.KeepAlive(l)
}

// TestEvictionOrderProperty drives a small table with random decisions,
// refunds and queue operations and checks every eviction against a brute
// force: the evicted key had the smallest idle time of all keys, and no
// key with queued requests is ever evicted.
func TestEvictionOrderProperty(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 3, Per: time.Second, Burst: 4, Name: "a"}, {Count: 20, Per: time.Minute, Name: "b"}},
		MaxKeys: 16, Mode: Queue, MaxWait: time.Minute})
	s := &l.tab.shards[0]
	if len(l.tab.shards) != 1 {
		t.Fatalf("%d shards, want 1", len(l.tab.shards))
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var tickets []*Ticket
	at := t0
	evictions := 0
	for step := range 20000 {
		at = at.Add(time.Duration(rng.Int64N(int64(200 * time.Millisecond))))
		key := strconv.Itoa(rng.IntN(40))
		n := l.ns(at)
		before := map[string]int64{}
		for k, e := range s.m {
			before[k] = e.idleAt()
		}
		switch op := rng.IntN(10); {
		case op < 6:
			l.AllowAt(key, at)
		case op < 7:
			l.RefundAt(key, at)
		case op < 8:
			if tk, _, _ := l.ReserveAt(key, at); tk != nil {
				tickets = append(tickets, tk)
			}
		case len(tickets) > 0:
			i := rng.IntN(len(tickets))
			if rng.IntN(2) == 0 {
				tickets[i].CancelAt(at)
			} else {
				tickets[i].PollAt(at)
			}
		}
		if len(s.m) > 16 && s.c.overflow == 0 {
			t.Fatalf("step %d: %d keys over MaxKeys 16 without overflow", step, len(s.m))
		}
		for k, idle := range before {
			if _, ok := s.m[k]; ok {
				continue
			}
			evictions++
			if idle == pinned {
				t.Fatalf("step %d: evicted %q with queued requests", step, k)
			}
			for k2, idle2 := range before {
				if idle2 < idle {
					t.Fatalf("step %d (now %d): evicted %q idle at %d while %q was idle at %d", step, n, k, idle, k2, idle2)
				}
			}
		}
	}
	if evictions < 1000 {
		t.Errorf("only %d evictions: test not sensitive", evictions)
	}
}

// TestSteadyStateEvictionDoesNotAllocate cycles twenty times more keys
// than MaxKeys, so that nearly every decision inserts a key and evicts
// another: the evicted entry is reused, and the caller's key string is
// stored as is, so a decision on a new key allocates nothing.
func TestSteadyStateEvictionDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, tc := range []struct {
		name  string
		rates []Rate
	}{
		{"one policy", []Rate{{Count: 10, Per: time.Second, Burst: 20}}},
		{"two policies", []Rate{{Count: 10, Per: time.Second, Name: "s"}, {Count: 100, Per: time.Hour, Name: "h"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const maxKeys, perRun = 1000, 1000
			l := mustNew(t, Config{Rates: tc.rates, MaxKeys: maxKeys})
			keys := millionKeys(20 * maxKeys)
			i := 0
			step := func() {
				for range perRun {
					l.AllowAt(keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond))
					i++
				}
			}
			for range len(keys) / perRun { // fill the table and the map to size
				step()
			}
			// AllocsPerRun truncates to whole allocations per run: 0 means
			// fewer than one per perRun decisions (amortised map upkeep).
			if n := testing.AllocsPerRun(20, step); n != 0 {
				t.Errorf("%v allocations per %d decisions on new keys, want 0", n, perRun)
			}
			if st := l.Stats(); st.Keys > maxKeys || st.Evicted < uint64(i-maxKeys) {
				t.Errorf("Stats = %+v after %d decisions: want a full table evicting on each", st, i)
			}
		})
	}
}

// benchKeys holds the million keys across the calls of a benchmark.
var benchKeys = sync.OnceValue(func() []string { return millionKeys(1_000_000) })

// millionKeys returns n distinct IPv4 keys.
func millionKeys(n int) []string {
	keys := make([]string, n)
	rng := rand.New(rand.NewPCG(9, 10))
	var a [4]byte
	for i := range keys {
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		keys[i] = netip.AddrFrom4(a).String()
	}
	return keys
}

// BenchmarkAllowMillionKeys spreads decisions over one million client
// keys with the table bounded at its default 100,000: most decisions
// insert a key and evict another. It reports the live heap per key held.
func BenchmarkAllowMillionKeys(b *testing.B) {
	keys := benchKeys()
	l := mustNew(b, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20}}})
	before := heapAfterGC()
	for _, k := range keys { // fill: every key once
		l.Allow(k)
	}
	st := l.Stats()
	perKey := float64(int64(heapAfterGC())-int64(before)) / float64(st.Keys)
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1 << 40)
		for pb.Next() {
			i++
			l.Allow(keys[i%uint64(len(keys))])
		}
	})
	b.StopTimer()
	if st := l.Stats(); st.Keys > 100_000 {
		b.Fatalf("Keys = %d, table not bounded", st.Keys)
	}
	b.ReportMetric(perKey, "heapB/key")
	runtime.KeepAlive(keys)
}

// BenchmarkAllowExistingKeys spreads decisions over 50,000 keys that all
// stay in the table: no insertion, the allocation-free path.
func BenchmarkAllowExistingKeys(b *testing.B) {
	keys := millionKeys(50_000)
	l := mustNew(b, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20}}})
	for _, k := range keys {
		l.Allow(k)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(1 << 40)
		for pb.Next() {
			i++
			l.Allow(keys[i%uint64(len(keys))])
		}
	})
}
