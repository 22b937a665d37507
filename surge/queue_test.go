package surge

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// fixed returns a limiter whose limit stays at n, with a long MaxWait so
// that queue tests never time out by accident.
func fixed(tb testing.TB, n, maxQueue int, o Order) *Limiter {
	return mustLimiter(tb, LimiterConfig{InitialLimit: n, MinLimit: n, MaxLimit: n, MaxQueue: maxQueue, Order: o, MaxWait: time.Minute})
}

// waitQueued waits until l has n requests queued.
func waitQueued(tb testing.TB, l *Limiter, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Queued != n {
		if time.Now().After(deadline) {
			tb.Fatalf("Queued = %d, want %d", l.Stats().Queued, n)
		}
		runtime.Gosched()
	}
}

type result struct {
	name string
	tok  Token
	err  error
}

// enqueue starts Acquire calls for names in turn, each queued before the
// next starts, and returns the channel their results arrive on.
func enqueue(tb testing.TB, l *Limiter, names []string, prio func(string) Priority) chan result {
	out := make(chan result, len(names))
	for _, name := range names {
		q := l.Stats().Queued
		go func() {
			tok, err := l.Acquire(context.Background(), prio(name))
			out <- result{name, tok, err}
		}()
		waitQueued(tb, l, q+1)
	}
	return out
}

func normal(string) Priority { return Normal }

// TestQueueOrder holds the only slot, queues three requests, then frees
// slots one at a time and checks the order they are served in.
func TestQueueOrder(t *testing.T) {
	for _, tc := range []struct {
		order Order
		want  string
	}{
		{FIFO, "[a b c]"},
		{LIFO, "[c b a]"},
	} {
		t.Run(fmt.Sprint(tc.order), func(t *testing.T) {
			l := fixed(t, 1, 10, tc.order)
			held, err := l.TryAcquire()
			if err != nil {
				t.Fatal(err)
			}
			out := enqueue(t, l, []string{"a", "b", "c"}, normal)
			var got []string
			for range 3 {
				held.Release(Success)
				r := <-out
				if r.err != nil {
					t.Fatalf("Acquire(%s) = %v", r.name, r.err)
				}
				got = append(got, r.name)
				held = r.tok
			}
			held.Release(Success)
			if fmt.Sprint(got) != tc.want {
				t.Errorf("served %v, want %s", got, tc.want)
			}
		})
	}
}

// TestHighPriorityShedsLast fills a queue of two with Normal requests:
// a High arrival displaces the Normal one that would be served last and is
// served first; a Low arrival at the full queue is shed at once.
func TestHighPriorityShedsLast(t *testing.T) {
	for _, tc := range []struct {
		order           Order
		evicted, served string // the Normal waiter displaced, the one served after vip
	}{
		{FIFO, "n2", "n1"}, // the newest would be served last
		{LIFO, "n1", "n2"}, // the oldest would be served last
	} {
		t.Run(fmt.Sprint(tc.order), func(t *testing.T) {
			l := fixed(t, 1, 2, tc.order)
			held, _ := l.TryAcquire()
			out := enqueue(t, l, []string{"n1", "n2"}, normal)
			vip := make(chan result, 1)
			go func() {
				tok, err := l.Acquire(context.Background(), High)
				vip <- result{"vip", tok, err}
			}()
			if r := <-out; r.name != tc.evicted || !errors.Is(r.err, ErrEvicted) {
				t.Fatalf("after a High arrival: %s got %v, want %s evicted", r.name, r.err, tc.evicted)
			}
			waitQueued(t, l, 2)
			if _, err := l.Acquire(context.Background(), Low); !errors.Is(err, ErrLimit) {
				t.Fatalf("Low at a full queue: %v, want ErrLimit", err)
			}
			held.Release(Success)
			r := <-vip
			if r.err != nil {
				t.Fatalf("vip: %v", r.err)
			}
			r.tok.Release(Success)
			r = <-out
			if r.name != tc.served || r.err != nil {
				t.Fatalf("then %s got %v, want %s admitted", r.name, r.err, tc.served)
			}
			r.tok.Release(Success)
			if st := l.Stats(); st.Arrivals != 5 || st.Shed != 2 || st.Admitted != 3 || st.InFlight != 0 {
				t.Errorf("Stats() = %+v, want 5 arrivals, 2 shed, 3 admitted, none in flight", st)
			}
		})
	}
}

func TestQueueWaitIsBounded(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxWait: 5 * time.Millisecond})
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	_, err := l.Acquire(context.Background(), Normal)
	if !errors.Is(err, ErrMaxWait) {
		t.Fatalf("Acquire past MaxWait = %v, want ErrMaxWait", err)
	}
	if st := l.Stats(); st.QueueTimeouts != 1 || st.Queued != 0 {
		t.Errorf("Stats() = %+v, want 1 queue timeout and an empty queue", st)
	}
}

func TestQueuedRequestLeavesWhenContextEnds(t *testing.T) {
	l := fixed(t, 1, 10, FIFO)
	held, _ := l.TryAcquire()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx, Normal)
		errc <- err
	}()
	waitQueued(t, l, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire after cancel = %v, want context.Canceled", err)
	}
	held.Release(Success)
	if st := l.Stats(); st.Queued != 0 || st.InFlight != 0 {
		t.Errorf("Stats() = %+v, want nothing queued or in flight", st)
	}
}

func TestNoQueueShedsAtOnce(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	if _, err := l.Acquire(context.Background(), High); !errors.Is(err, ErrLimit) {
		t.Fatalf("Acquire without a queue = %v, want ErrLimit", err)
	}
}

func TestExemptBypassesTheLimit(t *testing.T) {
	l := fixed(t, 1, 10, FIFO)
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	tok, err := l.Acquire(context.Background(), Exempt)
	if err != nil || tok != (Token{}) {
		t.Fatalf("Acquire(Exempt) = %+v, %v; want the zero token", tok, err)
	}
	tok.Release(Dropped)
	if st := l.Stats(); st.Arrivals != 1 || st.Dropped != 0 {
		t.Errorf("Stats() = %+v, want the exempt request uncounted", st)
	}
}
