package cache

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestUnmarshalRejectsBadStatus: a corrupt shared entry (Redis) whose
// status WriteHeader would panic on is undecodable, hence a miss.
func TestUnmarshalRejectsBadStatus(t *testing.T) {
	for _, status := range []int{-1, 0, 99, 1000, 1 << 20, 200, 999} {
		e := &Entry{Variants: []*Response{{Status: status, Header: http.Header{}}}}
		data, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Entry
		err = got.UnmarshalBinary(data)
		if ok := status >= 200 && status <= 999; (err == nil) != ok {
			t.Errorf("status %d: UnmarshalBinary error %v, want error %v", status, err, !ok)
		}
	}
}

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
