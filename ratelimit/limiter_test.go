package ratelimit

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// raceEnabled reports whether the test binary was built with -race (whose
// instrumentation allocates, so allocation tests skip under it).
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// t0 is the fixed instant injected-time tests start from.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustNew(tb testing.TB, cfg Config) *Limiter {
	tb.Helper()
	l, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

func TestNewInvalid(t *testing.T) {
	ok := []Rate{PerSecond(1)}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no rates", Config{}},
		{"zero count", Config{Rates: []Rate{{Count: 0, Per: time.Second}}}},
		{"negative count", Config{Rates: []Rate{{Count: -1, Per: time.Second}}}},
		{"zero per", Config{Rates: []Rate{{Count: 1}}}},
		{"negative per", Config{Rates: []Rate{{Count: 1, Per: -time.Second}}}},
		{"negative burst", Config{Rates: []Rate{{Count: 1, Per: time.Second, Burst: -1}}}},
		{"huge burst", Config{Rates: []Rate{{Count: 1, Per: time.Second, Burst: 1 << 31}}}},
		{"overflowing burst", Config{Rates: []Rate{{Count: 1, Per: 1 << 40, Burst: 1 << 29}}}},
		{"bad name", Config{Rates: []Rate{{Count: 1, Per: time.Second, Name: "a\nb"}}}},
		{"duplicate names", Config{Rates: []Rate{PerSecond(1), PerSecond(1)}}},
		{"bad mode", Config{Rates: ok, Mode: 7}},
		{"bad headers", Config{Rates: ok, Headers: 9}},
		{"negative max wait", Config{Rates: ok, MaxWait: -1}},
		{"negative max queue", Config{Rates: ok, MaxQueue: -1}},
		{"negative max keys", Config{Rates: ok, MaxKeys: -1}},
		{"negative block after", Config{Rates: ok, BlockAfter: -1}},
		{"block without duration", Config{Rates: ok, BlockAfter: 3}},
		{"negative block for", Config{Rates: ok, BlockFor: -time.Second}},
		{"block for too long", Config{Rates: ok, BlockAfter: 1, BlockFor: 400 * 24 * time.Hour}},
		{"max wait too long", Config{Rates: ok, MaxWait: 400 * 24 * time.Hour}},
		{"max queue too long", Config{Rates: ok, MaxQueue: 1 << 15}},
		{"block after too large", Config{Rates: ok, BlockAfter: 1 << 15, BlockFor: time.Second}},
		{"count over 15 digits", Config{Rates: []Rate{{Count: MaxCount + 1, Per: time.Hour, Burst: 1}}}},
		{"quota over 15 digits", Config{Rates: []Rate{{Count: 1_000_000_000_000, Per: time.Millisecond, Burst: 1}}}},
		{"quota overflows int64", Config{Rates: []Rate{{Count: MaxCount, Per: time.Nanosecond, Burst: 1}}}},
		{"bucket spans a century", Config{Rates: []Rate{{Count: 1, Per: 100 * 365 * 24 * time.Hour}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) = %v, nil; want an error", tc.cfg, l)
			}
		})
	}
	cfg := Config{Rates: []Rate{PerSecond(5)}}
	l := mustNew(t, cfg)
	cfg.Rates[0].Count = 0 // the limiter must have copied the slice
	if got := l.Rates()[0].Count; got != 5 {
		t.Errorf("Rates()[0].Count = %d after caller mutation, want 5", got)
	}
}

func TestAllowAtBucket(t *testing.T) {
	// 10/s, burst 3: interval 100ms.
	type step struct {
		at      time.Duration
		allowed bool
		remain  int
		retry   time.Duration
	}
	tests := []struct {
		name  string
		rate  Rate
		steps []step
	}{
		{"burst then refill", Rate{Count: 10, Per: time.Second, Burst: 3}, []step{
			{0, true, 2, 0}, {0, true, 1, 0}, {0, true, 0, 0},
			{0, false, 0, 100 * time.Millisecond},
			{99 * time.Millisecond, false, 0, time.Millisecond},
			{100 * time.Millisecond, true, 0, 0},
			{100 * time.Millisecond, false, 0, 100 * time.Millisecond},
			{time.Hour, true, 2, 0}, // refilled, never above burst
			{time.Hour, true, 1, 0},
		}},
		{"burst defaults to count", Rate{Count: 2, Per: time.Minute}, []step{
			{0, true, 1, 0}, {0, true, 0, 0}, {0, false, 0, 30 * time.Second},
			{29 * time.Second, false, 0, time.Second}, {30 * time.Second, true, 0, 0},
		}},
		{"uneven interval rounds up", Rate{Count: 3, Per: time.Second, Burst: 1}, []step{
			{0, true, 0, 0}, {333333333, false, 0, 1}, {333333334, true, 0, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, Config{Rates: []Rate{tc.rate}})
			for i, s := range tc.steps {
				d := l.AllowAt("k", t0.Add(s.at))
				if d.Allowed != s.allowed || d.Remaining != s.remain || (!s.allowed && d.RetryAfter != s.retry) {
					t.Fatalf("step %d: AllowAt(k, t0+%v) = %+v, want allowed=%v remaining=%d retry=%v", i, s.at, d, s.allowed, s.remain, s.retry)
				}
				if !d.Allowed && (d.RetryAfter <= 0 || !d.Limited) {
					t.Fatalf("step %d: rejection %+v without positive RetryAfter", i, d)
				}
			}
		})
	}
}

// TestWindowEdges fires bursts just before and just after whole-second
// edges and checks, over every window, that no more than burst + rate×len
// requests were admitted: a token bucket never admits twice the limit
// across an edge the way a fixed window does.
func TestWindowEdges(t *testing.T) {
	r := Rate{Count: 10, Per: time.Second, Burst: 10}
	l := mustNew(t, Config{Rates: []Rate{r}})
	var admitted []time.Duration
	for sec := 1; sec <= 5; sec++ {
		for _, off := range []time.Duration{-time.Millisecond, -time.Nanosecond, 0, time.Nanosecond, time.Millisecond} {
			at := time.Duration(sec)*time.Second + off
			for range 25 {
				if l.AllowAt("edge", t0.Add(at)).Allowed {
					admitted = append(admitted, at)
				}
			}
		}
	}
	checkWindows(t, admitted, r)
	if len(admitted) < 10+40 { // the full burst plus most of 4s of refill
		t.Errorf("admitted %d, want at least 50 (test not sensitive)", len(admitted))
	}
}

// checkWindows asserts that every window [a_i, a_j] of sorted admission
// times holds at most burst + rate × (a_j - a_i) admissions.
func checkWindows(t *testing.T, at []time.Duration, r Rate) {
	t.Helper()
	iv := r.interval()
	for i := range at {
		for j := i; j < len(at); j++ {
			n := j - i + 1
			limit := r.burst() + int(int64(at[j]-at[i])/iv)
			if n > limit {
				t.Fatalf("window [%v, %v] admitted %d, limit %d", at[i], at[j], n, limit)
			}
		}
	}
}

// TestAgainstXTimeRate replays random sequential arrivals through a
// Limiter and through x/time/rate's Limiter (the reference token bucket,
// exact when called from one goroutine) and expects the same decisions,
// except within a microsecond of a refill boundary where float rounding
// may differ.
func TestAgainstXTimeRate(t *testing.T) {
	for _, rt := range []Rate{{Count: 10, Per: time.Second, Burst: 5}, {Count: 100, Per: time.Minute, Burst: 1}, {Count: 7, Per: time.Second, Burst: 7}} {
		t.Run(rt.String(), func(t *testing.T) {
			l := mustNew(t, Config{Rates: []Rate{rt}})
			ref := rate.NewLimiter(rt.Limit(), rt.burst())
			rng := rand.New(rand.NewPCG(1, 2))
			at := t0
			mismatches, allowed := 0, 0
			for range 20000 {
				at = at.Add(time.Duration(rng.Int64N(int64(rt.Per) / int64(rt.Count) * 2)))
				got := l.AllowAt("k", at).Allowed
				if got != ref.AllowN(at, 1) {
					mismatches++
				}
				if got {
					allowed++
				}
			}
			t.Logf("%d mismatches, %d allowed", mismatches, allowed)
			if mismatches > 2 {
				t.Errorf("%d of 20000 decisions differ from x/time/rate (float rounding allows 2)", mismatches)
			}
			if allowed < 5000 {
				t.Errorf("allowed %d, want a busy limiter", allowed)
			}
		})
	}
}

func TestSeveralPolicies(t *testing.T) {
	// 10/s burst 20, and 30/min: the minute policy binds after 30.
	l := mustNew(t, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20, Name: "burst"}, {Count: 30, Per: time.Minute, Name: "minute"}}})
	var d Decision
	for i := range 20 {
		if d = l.AllowAt("k", t0); !d.Allowed {
			t.Fatalf("request %d rejected: %+v", i, d)
		}
	}
	if d.Policy != 0 || d.Remaining != 0 {
		t.Errorf("after 20: %+v, want policy 0 (burst) with 0 left", d)
	}
	if d = l.AllowAt("k", t0); d.Allowed || d.Policy != 0 || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("21st: %+v, want rejected by burst policy, retry 100ms", d)
	}
	n := 20
	for i := 1; i <= 200; i++ { // 20s later the minute policy has admitted 30 in total
		if l.AllowAt("k", t0.Add(time.Duration(i)*100*time.Millisecond)).Allowed {
			n++
		}
	}
	if n != 30+10 { // 30 at once, and 20s × 30/min = 10 more
		t.Errorf("admitted %d in 20s, want 40", n)
	}
	d = l.AllowAt("k", t0.Add(20*time.Second))
	if d.Allowed || d.Policy != 1 {
		t.Errorf("%+v, want a rejection by the minute policy", d)
	}
	// A rejection by one policy takes no token from the other.
	l2 := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second, Name: "a"}, {Count: 100, Per: time.Second, Name: "b"}}})
	l2.AllowAt("k", t0)
	for range 5 {
		l2.AllowAt("k", t0)
	}
	if d := l2.AllowAt("k", t0.Add(time.Second)); !d.Allowed || d.Policy != 0 {
		t.Errorf("%+v: rejected requests consumed tokens", d)
	}
}

func TestPenalty(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second}}, BlockAfter: 3, BlockFor: time.Minute})
	if !l.AllowAt("k", t0).Allowed {
		t.Fatal("first request rejected")
	}
	for i := range 2 {
		if d := l.AllowAt("k", t0); d.Allowed || d.Blocked {
			t.Fatalf("strike %d: %+v, want a plain rejection", i, d)
		}
	}
	d := l.AllowAt("k", t0)
	if d.Allowed || !d.Blocked || d.RetryAfter != time.Minute {
		t.Fatalf("third strike: %+v, want blocked for 1m", d)
	}
	// Tokens refill but the key stays blocked until the block ends.
	if d := l.AllowAt("k", t0.Add(30*time.Second)); d.Allowed || !d.Blocked || d.RetryAfter != 30*time.Second {
		t.Fatalf("during block: %+v, want blocked with retry 30s", d)
	}
	if d := l.AllowAt("k", t0.Add(time.Minute)); !d.Allowed {
		t.Fatalf("after block: %+v, want allowed", d)
	}
	if _, _, err := l.ReserveAt("other", t0); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Blocked != 1 || st.Rejected != 4 || st.Allowed != 3 {
		t.Errorf("Stats = %+v, want 1 blocked, 4 rejected, 3 allowed", st)
	}
	// An admission between rejections resets the strikes.
	l2 := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second}}, BlockAfter: 2, BlockFor: time.Minute})
	for s := range 10 {
		at := t0.Add(time.Duration(s) * time.Second)
		l2.AllowAt("k", at)
		if d := l2.AllowAt("k", at); d.Blocked {
			t.Fatalf("second %d: blocked after non-consecutive strikes", s)
		}
	}
}

func TestDryRun(t *testing.T) {
	var logs bytes.Buffer
	l := mustNew(t, Config{Rates: []Rate{{Count: 2, Per: time.Second}}, DryRun: true, BlockAfter: 1, BlockFor: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	limited := 0
	for range 10 {
		d := l.AllowAt("k", t0)
		if !d.Allowed {
			t.Fatalf("dry run rejected: %+v", d)
		}
		if d.Limited {
			limited++
			if d.RetryAfter <= 0 {
				t.Errorf("dry-run excess %+v without RetryAfter", d)
			}
		}
	}
	if limited != 8 {
		t.Errorf("limited = %d, want 8 (would-be rejections take no token)", limited)
	}
	if st := l.Stats(); st.LimitedDryRun != 8 || st.Rejected != 0 || st.Allowed != 2 {
		t.Errorf("Stats = %+v", st)
	}
	if n := strings.Count(logs.String(), "dry run"); n != 1 {
		t.Errorf("logged %d lines, want 1 (paced): %s", n, logs.String())
	}
	// Buckets evolved as if enforcing: after 500ms exactly one more token.
	if d := l.AllowAt("k", t0.Add(500*time.Millisecond)); d.Limited {
		t.Errorf("%+v: want a real token after 500ms", d)
	}
	// A nil logger is silent and dry-run never queues.
	q := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}, DryRun: true, Mode: Queue})
	for range 3 {
		tk, d, err := q.ReserveAt("k", t0)
		if tk != nil || err != nil || !d.Allowed {
			t.Fatalf("dry-run ReserveAt = %v, %+v, %v", tk, d, err)
		}
	}
}

func TestRefund(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour, Burst: 2}}})
	l.AllowAt("k", t0)
	l.AllowAt("k", t0)
	if l.AllowAt("k", t0).Allowed {
		t.Fatal("bucket not empty")
	}
	l.RefundAt("k", t0)
	if !l.AllowAt("k", t0).Allowed {
		t.Fatal("refunded token not available")
	}
	// Refunds never raise a bucket above its burst.
	for range 5 {
		l.RefundAt("k", t0.Add(2*time.Hour))
	}
	n := 0
	for l.AllowAt("k", t0.Add(2*time.Hour)).Allowed {
		n++
	}
	if n != 2 {
		t.Errorf("admitted %d after refunds on a full bucket, want burst 2", n)
	}
	l.RefundAt("unknown", t0) // no-op
	if st := l.Stats(); st.Keys != 1 {
		t.Errorf("Keys = %d, want 1", st.Keys)
	}
}

func TestLongKeysAreHashed(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}})
	long := strings.Repeat("x", 10000)
	if !l.AllowAt(long, t0).Allowed || l.AllowAt(long, t0).Allowed {
		t.Fatal("a long key is not limited as one key")
	}
	if !l.AllowAt(long+"y", t0).Allowed {
		t.Fatal("distinct long keys share a bucket")
	}
	for k := range l.tab.shardFor(normKey(long)).m {
		if len(k) > maxKeyLen+16 {
			t.Errorf("stored key of %d bytes", len(k))
		}
	}
}

func TestLimitError(t *testing.T) {
	err := error(&LimitError{RetryAfter: 1500 * time.Millisecond, Err: ErrLimited})
	if !errors.Is(err, ErrLimited) || !strings.Contains(err.Error(), "1.5s") {
		t.Errorf("LimitError = %v", err)
	}
}

func TestDecisionsDoNotAllocate(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1000, Per: time.Second}, {Count: 5, Per: time.Hour, Name: "h"}}})
	c, err := NewConcurrency(ConcurrencyConfig{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	l.AllowAt("203.0.113.7", t0)
	c.TryAcquire("k")
	for name, f := range map[string]func(){
		"AllowAt":            func() { l.AllowAt("203.0.113.7", t0) },
		"Allow":              func() { l.Allow("203.0.113.7") },
		"TryAcquire+Release": func() { c.TryAcquire("k"); c.Release("k") },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per decision, want 0", name, n)
		}
	}
}

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
