package ratelimit

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestSetRatesKeepsUsedTokens changes a limit at an injected time: keys
// keep the share of their bucket they used; full buckets stay full.
func TestSetRatesKeepsUsedTokens(t *testing.T) {
	tests := []struct {
		name      string
		from, to  Rate
		used      int // tokens taken at t0 before the change
		wantAtT0  int // admitted at t0 after the change
		wantLater int // admitted at t0+1s after those
	}{
		{"raise rate and burst", Rate{Count: 10, Per: time.Second}, Rate{Count: 100, Per: time.Second}, 3, 70, 100},
		{"lower rate and burst", Rate{Count: 10, Per: time.Second}, Rate{Count: 2, Per: time.Second}, 4, 1, 2},
		{"smaller burst than rate", Rate{Count: 10, Per: time.Second}, Rate{Count: 1, Per: time.Second, Burst: 2}, 8, 0, 1},
		{"unused key", Rate{Count: 10, Per: time.Second}, Rate{Count: 50, Per: time.Second}, 0, 50, 50},
		{"exhausted key", Rate{Count: 10, Per: time.Second}, Rate{Count: 1000, Per: time.Second}, 10, 0, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, Config{Rates: []Rate{tc.from}})
			l.AllowAt("k", t0) // create the key; give the token back if unused
			if tc.used == 0 {
				l.RefundAt("k", t0)
			}
			for range tc.used - 1 {
				l.AllowAt("k", t0)
			}
			if err := l.SetRatesAt([]Rate{tc.to}, t0); err != nil {
				t.Fatal(err)
			}
			if got := countAdmitted(l, "k", t0, 1000); got != tc.wantAtT0 {
				t.Errorf("AllowAt(k, t0) after SetRatesAt(%v) admitted %d, want %d", tc.to, got, tc.wantAtT0)
			}
			if got := countAdmitted(l, "k", t0.Add(time.Second), 1000); got != tc.wantLater {
				t.Errorf("AllowAt(k, t0+1s) admitted %d, want %d", got, tc.wantLater)
			}
			if got := countAdmitted(l, "new", t0, 1000); got != tc.to.burst() {
				t.Errorf("a new key admitted %d, want the new burst %d", got, tc.to.burst())
			}
		})
	}
}

// countAdmitted counts how many of n requests of key at now are admitted.
func countAdmitted(l *Limiter, key string, now time.Time, n int) int {
	c := 0
	for range n {
		if l.AllowAt(key, now).Allowed {
			c++
		}
	}
	return c
}

// TestSetRatesGivesNoFreshBurst exhausts many keys, changes the limit as
// a route table swap would, and checks that no key got a new burst.
func TestSetRatesGivesNoFreshBurst(t *testing.T) {
	n := keyExplosion() / 10
	l := mustNew(t, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 5}}, MaxKeys: 4 * n}) // room for uneven shards
	for i := range n {
		k := strconv.Itoa(i)
		for range 5 {
			l.AllowAt(k, t0)
		}
	}
	if err := l.SetRatesAt([]Rate{{Count: 20, Per: time.Second, Burst: 10}}, t0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := strconv.Itoa(i)
		if got := countAdmitted(l, k, t0, 6); got != 0 { // all used: still so
			t.Fatalf("key %s admitted %d after the change, want 0 (its bucket was empty)", k, got)
		}
	}
	if st := l.Stats(); st.Keys != n || st.Evicted != 0 {
		t.Errorf("Stats = %+v, want %d keys kept", st, n)
	}
}

// TestSetRatesChangesPolicyCount adds and removes policies: a new policy
// starts full, a removed one is forgotten, the others keep their state.
func TestSetRatesChangesPolicyCount(t *testing.T) {
	sec := Rate{Count: 10, Per: time.Second, Name: "sec"}
	hour := Rate{Count: 12, Per: time.Hour, Name: "hour"}
	l := mustNew(t, Config{Rates: []Rate{sec}})
	countAdmitted(l, "k", t0, 6) // 6 of 10 used
	if err := l.SetRatesAt([]Rate{sec, hour}, t0); err != nil {
		t.Fatal(err)
	}
	if got := countAdmitted(l, "k", t0, 100); got != 4 {
		t.Errorf("after adding a policy: admitted %d, want 4 (sec keeps its state)", got)
	}
	// An hour later both are full; take half of sec's bucket.
	if got := countAdmitted(l, "k", t0.Add(time.Hour), 5); got != 5 {
		t.Errorf("an hour later: admitted %d of 5", got)
	}
	if err := l.SetRatesAt([]Rate{hour}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Position 0 is now hour, with sec's share used: half of 12.
	if got := countAdmitted(l, "k", t0.Add(time.Hour), 100); got != 6 {
		t.Errorf("after removing a policy: admitted %d, want 6", got)
	}
	if got := l.Rates(); len(got) != 1 || got[0] != hour {
		t.Errorf("Rates() = %v, want [hour]", got)
	}
}

// TestSetRatesRejectsInvalidRates leaves the limiter unchanged on error.
func TestSetRatesRejectsInvalidRates(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{PerSecond(1)}})
	cfg := l.Config()
	for _, rates := range [][]Rate{nil, {{Count: 0, Per: time.Second}}, {PerSecond(1), PerSecond(1)}} {
		if err := l.SetRates(rates); !errors.Is(err, ErrInvalidRate) {
			t.Errorf("SetRates(%v) = %v, want ErrInvalidRate", rates, err)
		}
	}
	if l.Config() != cfg {
		t.Error("a failed SetRates replaced the configuration")
	}
}

// TestSetRatesUpdatesMiddlewareHeaders checks that Middleware follows a
// limiter's new policies in RateLimit-Policy.
func TestSetRatesUpdatesMiddlewareHeaders(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{PerMinute(5)}})
	h := Middleware(l)(okHandler)
	if got := serve(h, "").Header().Get(HeaderRateLimitPolicy); got != `"5/m";q=5;w=60` {
		t.Fatalf("RateLimit-Policy = %q", got)
	}
	if err := l.SetRates([]Rate{PerSecond(7)}); err != nil {
		t.Fatal(err)
	}
	rec := serve(h, "")
	if got := rec.Header().Get(HeaderRateLimitPolicy); got != `"7/s";q=7;w=1` {
		t.Errorf("RateLimit-Policy after SetRates = %q, want the new policy", got)
	}
	if got := rec.Header().Get(HeaderRateLimit); got != `"7/s";r=4;t=1` { // 1 of 5 used is 1.4 of 7, then 1 more
		t.Errorf("RateLimit after SetRates = %q", got)
	}
}

// TestSetRatesDuringDecisions changes the rates while other goroutines
// decide and queue: the race detector checks the locking, and every
// decision stays within the policies of one version.
func TestSetRatesDuringDecisions(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{PerSecond(100)}, Mode: Queue, MaxWait: time.Millisecond})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := strconv.Itoa(g*10 + i%10)
				if d := l.Allow(k); d.Policy < 0 || d.Policy > 1 {
					t.Errorf("Decision.Policy = %d", d.Policy)
				}
				if tk, _, _ := l.Reserve(k); tk != nil {
					tk.Cancel()
				}
			}
		}()
	}
	for i := range 50 {
		rates := []Rate{PerSecond(100 + i)}
		if i%2 == 1 {
			rates = append(rates, PerHour(1000+i))
		}
		if err := l.SetRates(rates); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
