package gatekit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

type closeRecorder struct {
	name  string
	order *[]string
	mu    *sync.Mutex
	err   error
}

func (c closeRecorder) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.order = append(*c.order, c.name)
	return c.err
}

func TestLifecycleStopsServersThenClosesInReverseOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	lc := NewLifecycle(nil)
	for _, n := range []string{"dns", "health", "cache", "proxy"} {
		lc.Add(n, closeRecorder{n, &order, &mu, nil})
	}
	started := make(chan struct{}, 2)
	for _, n := range []string{"public", "admin"} {
		lc.Go(n, func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			mu.Lock()
			order = append(order, n+" stopped")
			mu.Unlock()
			return nil
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lc.Run(ctx) }()
	<-started
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(order) != 6 || !slices.Equal(order[2:], []string{"proxy", "cache", "health", "dns"}) {
		t.Errorf("order = %q, want both servers stopped, then proxy, cache, health, dns", order)
	}
	if err := lc.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestLifecycleStopsEverythingWhenOneServerFails(t *testing.T) {
	var mu sync.Mutex
	var order []string
	lc := NewLifecycle(nil)
	boom := errors.New("address in use")
	closeErr := errors.New("flush failed")
	lc.Add("cache", closeRecorder{"cache", &order, &mu, closeErr})
	lc.Go("public", func(ctx context.Context) error { return boom })
	lc.Go("admin", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	err := lc.Run(context.Background())
	if !errors.Is(err, boom) || !errors.Is(err, closeErr) {
		t.Errorf("Run = %v, want the server's and the closer's errors", err)
	}
	if !slices.Equal(order, []string{"cache"}) {
		t.Errorf("closed %q, want cache", order)
	}
}
