package cache

import (
	"net/http"
	"strconv"
	"testing"
)

func TestHitValuesAreSharedWithinRangeAndReadAsFormatted(t *testing.T) {
	var v hitValues
	tests := []struct {
		sec    int64
		shared bool
	}{
		{0, true}, {59, true}, {hitSeconds - 1, true}, {hitSeconds, false}, {86400, false}, {-1, false},
	}
	for _, tc := range tests {
		ageV, statusV := v.age(tc.sec), v.status("edge", tc.sec)
		age, status := ageV.value, statusV.value
		if want := "Age: " + strconv.FormatInt(tc.sec, 10) + "\r\n"; ageV.line != want {
			t.Errorf("age(%d) line %q, want %q", tc.sec, ageV.line, want)
		}
		if want := "Cache-Status: edge; hit; ttl=" + strconv.FormatInt(tc.sec, 10) + "\r\n"; statusV.line != want {
			t.Errorf("status(%d) line %q, want %q", tc.sec, statusV.line, want)
		}
		if len(age) != 1 || age[0] != strconv.FormatInt(tc.sec, 10) {
			t.Errorf("age(%d) = %q", tc.sec, age)
		}
		if want := "edge; hit; ttl=" + strconv.FormatInt(tc.sec, 10); len(status) != 1 || status[0] != want {
			t.Errorf("status(%d) = %q, want %q", tc.sec, status, want)
		}
		if cap(age) != 1 || cap(status) != 1 {
			t.Errorf("sec %d: capacities %d, %d; want 1, so that an append copies", tc.sec, cap(age), cap(status))
		}
		again := v.age(tc.sec).value
		if shared := &again[0] == &age[0]; shared != tc.shared {
			t.Errorf("age(%d) shared = %v, want %v", tc.sec, shared, tc.shared)
		}
	}
}

// TestAppendingToAHitsCacheStatusLeavesTheNextHitAlone: an outer handler
// that appends its own member to the Cache-Status of a hit (another cache
// layer) must not change what the next hit says.
func TestAppendingToAHitsCacheStatusLeavesTheNextHitAlone(t *testing.T) {
	f := newFixture(t, Config{}, headers("Cache-Control", "max-age=60"))
	f.get("http://example.com/")
	_, first := f.get("http://example.com/")
	if !isHit(first) {
		t.Fatalf("second request: %q, want a hit", first)
	}
	rec := f.do(http.MethodGet, "http://example.com/")
	rec.Header()["Cache-Status"] = append(rec.Header()["Cache-Status"], "outer; fwd=miss")
	if _, next := f.get("http://example.com/"); next != first {
		t.Errorf("after an append to a hit's Cache-Status the next hit says %q, want %q", next, first)
	}
}
