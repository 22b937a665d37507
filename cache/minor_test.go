package cache

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestWaitConcurrentWithRefreshes: Wait may be called while requests start
// background refreshes (the race detector checks the bookkeeping).
func TestWaitConcurrentWithRefreshes(t *testing.T) {
	f := newFixture(t, Config{}, headers("Cache-Control", "max-age=1, stale-while-revalidate=600"))
	for i := range 20 {
		f.get("http://example.com/" + itoa(time.Duration(i)*time.Second))
	}
	f.clk.Add(2 * time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(f.c.Wait)
		wg.Go(func() {
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/"+itoa(time.Duration(i)*time.Second), nil))
		})
	}
	wg.Wait()
	f.c.Wait()
	if n := f.o.n.Load(); n != 40 {
		t.Fatalf("origin saw %d requests, want 20 fills + 20 refreshes", n)
	}
}
