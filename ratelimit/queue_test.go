package ratelimit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func queueLimiter(t *testing.T, maxWait time.Duration, maxQueue int) *Limiter {
	return mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second, Burst: 1}}, Mode: Queue, MaxWait: maxWait, MaxQueue: maxQueue})
}

func reserve(t *testing.T, l *Limiter, at time.Duration) (*Ticket, Decision) {
	t.Helper()
	tk, d, err := l.ReserveAt("k", t0.Add(at))
	if err != nil {
		t.Fatalf("ReserveAt(k, t0+%v): %v", at, err)
	}
	return tk, d
}

func poll(t *testing.T, tk *Ticket, at time.Duration, want bool) time.Duration {
	t.Helper()
	ok, wait, err := tk.PollAt(t0.Add(at))
	if err != nil || ok != want {
		t.Fatalf("PollAt(t0+%v) = %v, %v, %v; want ok=%v", at, ok, wait, err, want)
	}
	return wait
}

func woken(tk *Ticket) bool {
	select {
	case <-tk.wake:
		return true
	default:
		return false
	}
}

func TestQueueFIFO(t *testing.T) {
	l := queueLimiter(t, 10*time.Second, 10)
	if tk, d := reserve(t, l, 0); tk != nil || !d.Allowed {
		t.Fatalf("first = %v, %+v; want admitted at once", tk, d)
	}
	var tickets []*Ticket
	for i := 1; i <= 3; i++ {
		tk, d := reserve(t, l, 0)
		if tk == nil || !d.Queued || d.RetryAfter != time.Duration(i)*time.Second {
			t.Fatalf("request %d = %v, %+v; want queued for %ds", i, tk, d, i)
		}
		tickets = append(tickets, tk)
	}
	b, c, d := tickets[0], tickets[1], tickets[2]
	if w := l.Stats().Waiting; w != 3 {
		t.Errorf("Waiting = %d, want 3", w)
	}
	// Only the head may take a token, even when a later ticket polls first.
	poll(t, c, time.Second, false)
	poll(t, d, time.Second, false)
	if w := poll(t, b, 500*time.Millisecond, false); w != 500*time.Millisecond {
		t.Errorf("head wait = %v, want 500ms", w)
	}
	poll(t, b, time.Second, true)
	if !woken(c) {
		t.Error("next head was not woken")
	}
	// A request arriving now, even in Reject style, cannot overtake.
	if dd := l.AllowAt("k", t0.Add(5*time.Second)); dd.Allowed {
		t.Errorf("AllowAt overtook the queue: %+v", dd)
	}
	e, dd := reserve(t, l, 1500*time.Millisecond)
	if dd.RetryAfter != 2500*time.Millisecond { // behind c (2s) and d (3s)
		t.Errorf("late arrival wait = %v, want 2.5s", dd.RetryAfter)
	}
	poll(t, c, 2*time.Second, true)
	poll(t, e, 3*time.Second, false)
	poll(t, d, 3*time.Second, true)
	poll(t, e, 4*time.Second, true)
	if st := l.Stats(); st.Queued != 4 || st.Allowed != 5 || st.Rejected != 1 || st.Waiting != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestQueueCancelReturnsToken(t *testing.T) {
	l := queueLimiter(t, 10*time.Second, 10)
	reserve(t, l, 0)
	b, _ := reserve(t, l, 0)
	c, _ := reserve(t, l, 0)
	d, _ := reserve(t, l, 0)
	b.CancelAt(t0.Add(500 * time.Millisecond))
	if !woken(c) {
		t.Error("cancelling the head did not wake the next")
	}
	poll(t, c, time.Second, true) // c got b's slot
	// A late arrival is now second in line, not fourth.
	_, dd := reserve(t, l, time.Second)
	if dd.RetryAfter != 2*time.Second {
		t.Errorf("wait after a cancel = %v, want 2s", dd.RetryAfter)
	}
	// Cancelling an admitted ticket gives its token back to the head.
	c.CancelAt(t0.Add(time.Second))
	if !woken(d) {
		t.Error("a returned token did not wake the head")
	}
	poll(t, d, time.Second, true)
	// Cancel is idempotent and a cancelled ticket reports so.
	b.CancelAt(t0.Add(time.Second))
	if _, _, err := b.PollAt(t0.Add(time.Second)); !errors.Is(err, context.Canceled) {
		t.Errorf("PollAt on a cancelled ticket: %v", err)
	}
	if st := l.Stats(); st.Cancelled != 1 {
		t.Errorf("Cancelled = %d, want 1", st.Cancelled)
	}
}

func TestQueueMaxWaitAndLength(t *testing.T) {
	l := queueLimiter(t, 2500*time.Millisecond, 10)
	reserve(t, l, 0)
	b, _ := reserve(t, l, 0)
	c, _ := reserve(t, l, 0)
	_, d, err := l.ReserveAt("k", t0)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrMaxWait) || le.RetryAfter != 3*time.Second || d.Allowed {
		t.Fatalf("third waiter: %+v, %v; want ErrMaxWait retry 3s", d, err)
	}
	// Nobody polled b (a forgotten ticket at the head) by the deadline
	// (MaxWait plus the grace for late timers): b and c both leave the
	// queue, and their tokens go to the next comer.
	deadline := 2500*time.Millisecond + pollGrace
	poll(t, c, deadline-1, false)
	if _, _, err := c.PollAt(t0.Add(deadline)); !errors.Is(err, ErrMaxWait) {
		t.Errorf("PollAt past the deadline: %v, want ErrMaxWait", err)
	}
	if _, _, err := b.PollAt(t0.Add(deadline)); !errors.Is(err, ErrMaxWait) {
		t.Errorf("forgotten head: %v, want ErrMaxWait", err)
	}
	if tk, dd := reserve(t, l, deadline); tk != nil || !dd.Allowed {
		t.Errorf("after the queue expired: %v, %+v; want admitted at once", tk, dd)
	}
	if st := l.Stats(); st.QueueRejected != 1 || st.QueueExpired != 2 || st.Waiting != 0 {
		t.Errorf("Stats = %+v", st)
	}
	// A head that polls in time is admitted even late in its wait.
	q2 := queueLimiter(t, 2500*time.Millisecond, 10)
	reserve(t, q2, 0)
	b2, _ := reserve(t, q2, 0)
	poll(t, b2, 2500*time.Millisecond+pollGrace-1, true)

	q := queueLimiter(t, time.Hour, 2)
	reserve(t, q, 0)
	reserve(t, q, 0)
	reserve(t, q, 0)
	if _, _, err := q.ReserveAt("k", t0); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third queued request: %v, want ErrQueueFull", err)
	}
	if _, _, err := q.ReserveAt("other", t0); err != nil {
		t.Errorf("another key is not affected by a full queue: %v", err)
	}
}

func TestQueueKeysNotEvicted(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}, Mode: Queue, MaxWait: 2 * time.Hour, MaxKeys: 1})
	reserve(t, l, 0)
	tk, _ := reserve(t, l, 0)
	for i := range 5 { // new keys cannot evict the key with a waiter
		if _, _, err := l.ReserveAt(string(rune('a'+i)), t0); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, tk, time.Hour, true)
	if st := l.Stats(); st.Overflow == 0 {
		t.Errorf("Stats = %+v, want overflow counted", st)
	}
}

// waitQueued spins (without sleeping) until l has queued n requests; it
// fails the test rather than hang if that takes over 10s.
func waitQueued(t *testing.T, l *Limiter, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Queued < n; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after 10s, want %d", l.Stats().Queued, n)
		}
	}
}

// TestWaitOrderAndRate queues five Waits behind a ticket held at the head
// of the queue (so that none is admitted at once however the goroutines
// are scheduled), then withdraws it: they must be admitted in arrival
// order, at the rate.
func TestWaitOrderAndRate(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 200, Per: time.Second, Burst: 1}}, Mode: Queue, MaxWait: time.Minute})
	ctx := context.Background()
	if err := l.Wait(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	head, _, err := l.ReserveAt("k", time.Now())
	if head == nil || err != nil {
		t.Fatalf("ReserveAt after the burst = %v, %v; want a ticket", head, err)
	}
	order := make(chan int, 5)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(ctx, "k"); err != nil {
				t.Errorf("Wait %d: %v", i, err)
			}
			order <- i
		}()
		waitQueued(t, l, uint64(i+2))
	}
	head.CancelAt(time.Now())
	wg.Wait()
	close(order)
	want := 0
	for i := range order {
		if i != want {
			t.Errorf("admitted %d, want %d (FIFO)", i, want)
		}
		want++
	}
	// 5 tokens at 200/s after the burst was used take at least 20ms.
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("5 queued requests took %v, want >= 20ms", el)
	}
}

func TestWaitCancel(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}, Mode: Queue, MaxWait: 3 * time.Hour})
	if err := l.Wait(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx, "k") }()
	waitQueued(t, l, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait = %v", err)
	}
	// The cancelled request held no place: the next one is first in line.
	_, d, err := l.ReserveAt("k", time.Now())
	if err != nil || d.RetryAfter > time.Hour {
		t.Errorf("after cancel: %+v, %v; want a wait of at most 1h", d, err)
	}
	if st := l.Stats(); st.Cancelled != 1 {
		t.Errorf("Stats = %+v", st)
	}
	// A deadline shorter than the wait fails at once, wrapping DeadlineExceeded.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
	defer dcancel()
	err = l.Wait(dctx, "other-key-drained")
	if err != nil {
		t.Fatal(err)
	}
	err = l.Wait(dctx, "other-key-drained")
	var le *LimitError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &le) || le.RetryAfter <= time.Minute {
		t.Errorf("Wait past deadline = %v, want a LimitError wrapping DeadlineExceeded", err)
	}
	// An already cancelled context never takes a token.
	if err := l.Wait(ctx, "fresh"); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v", err)
	}
	if err := l.Wait(context.Background(), "fresh"); err != nil {
		t.Errorf("fresh key: %v", err)
	}
}

func TestQueueSlowRateNoOverflow(t *testing.T) {
	month := 30 * 24 * time.Hour
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: month}}, Mode: Queue, MaxWait: 365 * 24 * time.Hour, MaxQueue: 1<<15 - 1})
	reserve(t, l, 0)
	for i := 1; i <= 12; i++ {
		if _, d := reserve(t, l, 0); d.RetryAfter != time.Duration(i)*month {
			t.Fatalf("waiter %d: %+v, want a wait of %d months", i, d, i)
		}
	}
	if _, _, err := l.ReserveAt("k", t0); !errors.Is(err, ErrMaxWait) {
		t.Fatalf("13th month: %v, want ErrMaxWait", err)
	}
}

// TestCancelAfterEvictionKeepsOtherKeys checks that cancelling an admitted
// ticket whose entry was evicted (and reused for another key) gives no
// token to that other key.
func TestCancelAfterEvictionKeepsOtherKeys(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Second}}, Mode: Queue, MaxWait: time.Minute, MaxKeys: 1})
	l.AllowAt("a", t0)
	tk, _, err := l.ReserveAt("a", t0)
	if tk == nil || err != nil {
		t.Fatalf("ReserveAt = %v, %v; want a ticket", tk, err)
	}
	if ok, _, err := tk.PollAt(t0.Add(time.Second)); !ok || err != nil {
		t.Fatalf("PollAt(t0+1s) = %v, %v; want admitted", ok, err)
	}
	at := t0.Add(time.Second)
	if !l.AllowAt("b", at).Allowed { // evicts a (the table holds one key)
		t.Fatal("b's first request rejected")
	}
	tk.CancelAt(at)
	if d := l.AllowAt("b", at); d.Allowed {
		t.Errorf("AllowAt(b, t0+1s) = %+v after a's ticket was cancelled: a's token went to b", d)
	}
}

// TestClockTwinsMatchInjectedTime checks that Reserve, Poll and Cancel,
// which read the clock, behave as their …At twins at the current time.
func TestClockTwinsMatchInjectedTime(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 1, Per: time.Hour}}, Mode: Queue, MaxWait: 2 * time.Hour})
	if tk, d, err := l.Reserve("k"); tk != nil || !d.Allowed || err != nil {
		t.Fatalf("Reserve = %v, %+v, %v; want admitted at once", tk, d, err)
	}
	tk, d, err := l.Reserve("k")
	if tk == nil || !d.Queued || err != nil || d.RetryAfter <= 59*time.Minute {
		t.Fatalf("Reserve = %v, %+v, %v; want queued for about an hour", tk, d, err)
	}
	if ok, wait, err := tk.Poll(); ok || err != nil || wait <= 59*time.Minute {
		t.Fatalf("Poll = %v, %v, %v; want an hour to wait", ok, wait, err)
	}
	tk.Cancel()
	if _, _, err := tk.Poll(); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll after Cancel = %v, want context.Canceled", err)
	}
	if st := l.Stats(); st.Cancelled != 1 || st.Waiting != 0 {
		t.Errorf("Stats = %+v, want 1 cancelled, none waiting", st)
	}
}
