package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRistrettoStore(t *testing.T) {
	s, err := NewRistrettoStore(1<<20, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &Entry{Variants: []*Response{{Status: 200, Body: []byte("hello")}}}
	s.Set(ctx, "k", e, time.Minute)
	s.Wait()
	if got, ok := s.Get(ctx, "k"); !ok || got != e {
		t.Fatalf("Get after Set+Wait = %v, %v", got, ok)
	}
	s.Delete(ctx, "k")
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("Get after Delete hit")
	}
	// Bounded in bytes with our own cost: 100 entries of ~10 KiB fit in 1 MiB
	// (ristretto's internal cost would not shrink the bound). Admission of a
	// new key is not guaranteed, so only the total is checked.
	body := make([]byte, 10<<10)
	for i := range 300 {
		s.Set(ctx, fmt.Sprint("big", i), &Entry{Variants: []*Response{{Body: body}}}, time.Minute)
	}
	s.Wait()
	held := 0
	for i := range 300 {
		if _, ok := s.Get(ctx, fmt.Sprint("big", i)); ok {
			held++
		}
	}
	if held > 100 {
		t.Fatalf("held %d entries of 10 KiB in 1 MiB", held)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s.Set(ctx, "k", e, time.Minute)
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("Get after Close hit")
	}
	if _, err := NewRistrettoStore(-1, 0); err == nil {
		t.Fatal("NewRistrettoStore(-1) succeeded")
	}
}

// TestRistrettoConcurrentClose: Set, Get and Delete
// from many goroutines while Close runs must not panic or leak.
func TestRistrettoConcurrentClose(t *testing.T) {
	for range 5 {
		s, err := NewRistrettoStore(1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		e := &Entry{Variants: []*Response{{Status: 200, Body: []byte("x")}}}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 8 {
			wg.Go(func() {
				<-start
				for i := range 500 {
					k := fmt.Sprint(g, i%50)
					s.Set(ctx, k, e, time.Minute)
					s.Get(ctx, k)
					if i%7 == 0 {
						s.Delete(ctx, k)
					}
				}
			})
		}
		close(start)
		s.Close()
		wg.Wait()
	}
}
