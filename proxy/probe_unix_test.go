//go:build unix

package proxy

import (
	"net"
	"syscall"
	"testing"
)

// TestProberTellsEmptyFromDataFromClosed checks one socket through the
// three states an idle upstream connection can be found in.
func TestProberTellsEmptyFromDataFromClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var p prober
	p.init()
	if got := p.check(raw); got != probeEmpty {
		t.Fatalf("nothing sent: check = %d, want probeEmpty", got)
	}
	peer.Write([]byte("x"))
	if got := p.check(raw); got != probeData {
		t.Fatalf("a byte waiting: check = %d, want probeData", got)
	}
	peer.Close()
	if got := p.check(raw); got != probeClosed {
		t.Fatalf("peer closed: check = %d, want probeClosed", got)
	}
}
