package balancer

import (
	"errors"
	"io"
	"log/slog"
	"sync"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

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
