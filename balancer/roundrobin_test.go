package balancer

import (
	"net/url"
	"testing"
)

func TestRoundRobinRotates(t *testing.T) {
	pool := weightedPool(t, 1, 1, 1)
	rr := NewRoundRobin(pool)
	if got := picks(t, rr, 9); !isRotation(got, "abc") {
		t.Fatalf("picks = %q, want a rotation of abc", got)
	}
	pool.Remove(&url.URL{Scheme: "http", Host: "b.test:80"})
	if got := picks(t, rr, 6); !isRotation(got, "ac") {
		t.Fatalf("after removing b: picks = %q, want a rotation of ac", got)
	}
	// Random start: over many instances, the first pick is not always a.
	first := map[string]bool{}
	for range 64 {
		first[picks(t, NewRoundRobin(pool), 1)] = true
	}
	if len(first) < 2 {
		t.Errorf("64 new RoundRobins all started at %v", first)
	}
}
