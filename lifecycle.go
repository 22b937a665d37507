package gatekit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// Lifecycle owns what a gateway program starts (servers, health checkers,
// proxies, caches, DNS watchers) and stops it all in order, so that a
// program does not track each Close by hand.
//
// Register closers with Add in the order they are built; start servers
// with Go; then Run blocks until its context is cancelled or a server
// fails, lets the servers shut down (they watch the context they were
// given), and closes the closers in reverse order: the proxy that uses a
// pool is closed before the health checker that watches the pool.
//
// A Lifecycle is safe for concurrent use. Its zero value is not usable;
// call NewLifecycle.
type Lifecycle struct {
	logger *slog.Logger

	mu      sync.Mutex // guards the fields below
	closers []namedCloser
	servers []namedServer
	ran     bool
}

type namedCloser struct {
	name string
	c    io.Closer
}

type namedServer struct {
	name  string
	serve func(context.Context) error
}

// NewLifecycle returns an empty Lifecycle that logs each step to logger
// (Info; failures at Error). A nil logger means silent.
func NewLifecycle(logger *slog.Logger) *Lifecycle {
	return &Lifecycle{logger: logger}
}

// Add registers c to be closed by Run (or Close) after everything added
// later. It returns c's error at close time through Run's result.
func (l *Lifecycle) Add(name string, c io.Closer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, namedCloser{name, c})
}

// Go registers serve to run on its own goroutine when Run starts, with a
// context that is cancelled when Run's context is, or when another server
// fails. serve must return once its context is done, after shutting down
// gracefully (Server.ListenAndServe does).
func (l *Lifecycle) Go(name string, serve func(ctx context.Context) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.servers = append(l.servers, namedServer{name, serve})
}

// Run starts the servers registered with Go and blocks until ctx is done
// or one of them returns; it then cancels the others, waits for all of
// them, and closes the closers registered with Add in reverse order. It
// returns the servers' and closers' errors joined (nil if all went well).
// Run may be called once.
func (l *Lifecycle) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.ran {
		l.mu.Unlock()
		return errors.New("gatekit: Lifecycle.Run called twice")
	}
	l.ran = true
	servers := l.servers
	l.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.log(slog.LevelInfo, "lifecycle: starting", s.name, nil)
			err := s.serve(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = fmt.Errorf("%s: %w", s.name, err)
				l.log(slog.LevelError, "lifecycle: stopped with an error", s.name, err)
			} else {
				l.log(slog.LevelInfo, "lifecycle: stopped", s.name, nil)
			}
			cancel() // one server down stops the program
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return errors.Join(append(errs, l.Close())...)
}

// Close closes the closers registered with Add in reverse order, once
// each, and returns their errors joined. Run calls it; call it directly
// in programs that start no server through Go.
func (l *Lifecycle) Close() error {
	l.mu.Lock()
	closers := l.closers
	l.closers = nil
	l.mu.Unlock()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		c := closers[i]
		if err := c.c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
			l.log(slog.LevelError, "lifecycle: close failed", c.name, err)
			continue
		}
		l.log(slog.LevelInfo, "lifecycle: closed", c.name, nil)
	}
	return errors.Join(errs...)
}

func (l *Lifecycle) log(level slog.Level, msg, name string, err error) {
	if l.logger == nil {
		return
	}
	if err != nil {
		l.logger.Log(context.Background(), level, msg, "component", name, "err", err)
		return
	}
	l.logger.Log(context.Background(), level, msg, "component", name)
}
