//go:build !unix

package proxy

import "syscall"

// probeSupported: idle connections cannot be checked without blocking
// here, so requests go through http.Transport, whose reader goroutine
// watches idle connections.
const probeSupported = false

const (
	probeEmpty = iota
	probeData
	probeClosed
)

type prober struct{}

func (p *prober) init() {}

func (p *prober) check(syscall.RawConn) int { return probeClosed }
