package redisrate

import (
	"testing"
	"time"
)

// TestBreakerOpensProbesAndCloses drives the breaker with injected times:
// it opens after the threshold of failures in a row (a success in between
// resets the count), lets one probe through per cooldown, closes when a
// probe succeeds and waits another cooldown when it fails.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b breaker
	b.init(3, time.Second)
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"first failure does not open", func() bool { return b.failure(t0) }, false},
		{"a success resets the count", func() bool { b.success(); return b.failure(t0) }, false},
		{"second failure in a row", func() bool { return b.failure(t0) }, false},
		{"third failure opens", func() bool { return b.failure(t0) }, true},
		{"open: no call", func() bool { return b.allow(t0.Add(999 * time.Millisecond)) }, false},
		{"after the cooldown: one probe", func() bool { return b.allow(t0.Add(time.Second)) }, true},
		{"only one probe at a time", func() bool { return b.allow(t0.Add(time.Second)) }, false},
		{"a failed probe does not reopen", func() bool { return b.failure(t0.Add(1500 * time.Millisecond)) }, false},
		{"and restarts the cooldown", func() bool { return b.allow(t0.Add(2 * time.Second)) }, false},
		{"next probe after it", func() bool { return b.allow(t0.Add(2500 * time.Millisecond)) }, true},
		{"a probe that gave up frees the slot", func() bool { b.abandon(); return b.allow(t0.Add(2500 * time.Millisecond)) }, true},
		{"a successful probe closes", func() bool { return b.success() }, true},
		{"closed: every call", func() bool { return b.allow(t0) && b.closed() }, true},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	if got := b.retryAfter(t0.Add(time.Hour)); got != time.Second {
		t.Errorf("retryAfter long after the last cooldown = %v, want the 1s floor", got)
	}
}
