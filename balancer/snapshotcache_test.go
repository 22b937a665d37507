package balancer

import "testing"

// TestSnapshotCacheBuildsOncePerSnapshotAndNeverGoesBack checks that state
// is built once for each new snapshot from the previous state, reused for
// the same snapshot, kept when an older snapshot arrives late (a pick that
// loaded the pool before a change), and that peek answers with the
// previous state instead of waiting while another pick rebuilds.
func TestSnapshotCacheBuildsOncePerSnapshotAndNeverGoesBack(t *testing.T) {
	var c snapshotCache[int]
	builds := 0
	build := func(s *snapshot, prev int) int {
		builds++
		return prev*10 + int(s.version)
	}
	s1, s2, s3 := &snapshot{version: 1}, &snapshot{version: 2}, &snapshot{version: 3}
	for _, step := range []struct {
		name       string
		s          *snapshot
		want       int
		wantBuilds int
	}{
		{"first snapshot", s1, 1, 1},
		{"same snapshot reused", s1, 1, 1},
		{"newer snapshot built from the previous state", s2, 12, 2},
		{"older snapshot arriving late keeps the newer state", s1, 12, 2},
		{"same snapshot again", s2, 12, 2},
	} {
		if got := c.get(step.s, build); got != step.want || builds != step.wantBuilds {
			t.Fatalf("%s: get = %d after %d builds, want %d after %d", step.name, got, builds, step.want, step.wantBuilds)
		}
	}

	c.mu.Lock() // another pick is rebuilding
	v, stale := c.peek(s3, build)
	c.mu.Unlock()
	if v != 12 || !stale || builds != 2 {
		t.Fatalf("peek during a rebuild = %d, stale %v after %d builds; want the previous 12, stale, no build", v, stale, builds)
	}
	if v, stale := c.peek(s3, build); v != 123 || stale || builds != 3 {
		t.Fatalf("peek with no rebuild running = %d, stale %v after %d builds; want 123 built now", v, stale, builds)
	}
	var empty snapshotCache[int]
	empty.mu.Lock()
	go func() { empty.mu.Unlock() }() // nothing to fall back on: peek waits
	if v, stale := empty.peek(s1, build); v != 1 || stale {
		t.Fatalf("peek with no previous state = %d, stale %v; want 1 built", v, stale)
	}
}
