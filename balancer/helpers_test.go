package balancer

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func poolOf(t testing.TB, urls ...string) *Pool {
	t.Helper()
	ups, err := ParseUpstreams(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder wraps a policy and records the results passed to done.
type recorder struct {
	Policy
	mu      sync.Mutex
	results []Result
}

func (rp *recorder) Pick(_ context.Context, key string) (*Target, func(Result), error) {
	t, done, err := rp.Policy.Pick(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	return t, func(r Result) {
		rp.mu.Lock()
		rp.results = append(rp.results, r)
		rp.mu.Unlock()
		done(r)
	}, nil
}

// waitFor polls cond until it holds or d has passed, for state another
// goroutine changes; it reports whether cond held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// lockedWriter serialises writes from concurrent log calls.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func slogTo(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu: mu, w: w}, nil))
}
