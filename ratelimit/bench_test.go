package ratelimit

import (
	"encoding/binary"
	"math/rand/v2"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAllowHotKey measures one decision (clock read included) when
// every goroutine hits the same key.
func BenchmarkAllowHotKey(b *testing.B) {
	l := mustNew(b, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second, Burst: 1000}}})
	l.Allow("hot")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("hot")
		}
	})
}

// BenchmarkAllowAtHotKey is BenchmarkAllowHotKey without the clock read.
func BenchmarkAllowAtHotKey(b *testing.B) {
	l := mustNew(b, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second, Burst: 1000}}})
	l.AllowAt("hot", t0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.AllowAt("hot", t0)
		}
	})
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

// BenchmarkAllowTwoPolicies is the hot key with two policies.
func BenchmarkAllowTwoPolicies(b *testing.B) {
	l := mustNew(b, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second, Name: "a"}, {Count: 1_000_000_000, Per: time.Hour, Name: "b"}}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("hot")
		}
	})
}

// BenchmarkConcurrencyAcquireRelease is one TryAcquire/Release pair on a
// hot key.
func BenchmarkConcurrencyAcquireRelease(b *testing.B) {
	c, err := NewConcurrency(ConcurrencyConfig{Max: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	c.TryAcquire("hot") // keep the entry alive
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.TryAcquire("hot") {
				c.Release("hot")
			}
		}
	})
}

// BenchmarkMiddleware is one request through Middleware with the default
// ClientIP key and draft headers, over 256 clients.
func BenchmarkMiddleware(b *testing.B) {
	l := mustNew(b, Config{Rates: []Rate{{Count: 1_000_000, Per: time.Second}}})
	h := Middleware(l)(okHandler)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/", nil)
		w := httptest.NewRecorder()
		i := 0
		for pb.Next() {
			i++
			r.RemoteAddr = "10.0.0." + strconv.Itoa(i%256) + ":1"
			clear(w.Header())
			h.ServeHTTP(w, r)
		}
	})
}
