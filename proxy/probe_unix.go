//go:build unix

package proxy

import (
	"syscall"
)

// probeSupported: idle connections can be checked without blocking, so
// the synchronous HTTP/1.1 pool is used.
const probeSupported = true

// Outcomes of a prober's check.
const (
	probeEmpty  = iota // nothing waiting: the connection is usable
	probeData          // bytes waiting
	probeClosed        // end of stream or an error
)

// prober checks an idle connection with one non-blocking read of its
// socket. Its function is bound once per connection, so that a check
// allocates nothing.
type prober struct {
	buf [1]byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (p *prober) init() {
	p.fn = func(fd uintptr) bool {
		p.n, p.err = syscall.Read(int(fd), p.buf[:])
		return true // never wait for readiness
	}
}

// check reads at most one byte from raw without waiting.
func (p *prober) check(raw syscall.RawConn) int {
	p.n, p.err = 0, nil
	if err := raw.Read(p.fn); err != nil {
		return probeClosed
	}
	switch {
	case p.n > 0:
		return probeData
	case p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK:
		return probeEmpty
	}
	return probeClosed
}
