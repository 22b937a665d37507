package balancer

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestClientSetHeader(t *testing.T) {
	for _, name := range clientSetHeaders {
		if !clientSetHeader(name) {
			t.Errorf("clientSetHeader(%q) = false, want true", name)
		}
	}
	tests := []struct {
		name string
		want bool
	}{
		{"X-Forwarded-Scheme", true},
		{"X-Forwarded-Ssl", true},
		{"X-Forwarded-", false},
		{"X-Forwarded", true},
		{"X-Real-Ip", true},
		{"Content-Type", false},
		{"Accept", false},
		{"X-Request-Id", false},
		{"Forwarded", false},
		{"Cookie", false},
		{"X-Hos", false},
		{"x-real-ip", false}, // header maps hold canonical names
		{"", false},
	}
	for _, tt := range tests {
		if got := clientSetHeader(tt.name); got != tt.want {
			t.Errorf("clientSetHeader(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAddrString(t *testing.T) {
	tests := []struct {
		addr, remote string
	}{
		{"192.0.2.1", "192.0.2.1:1234"},
		{"192.0.2.1", "192.0.2.10:1234"},
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1", "198.51.100.7:80"},
		{"192.0.2.1", ""},
		{"2001:db8::1", "[2001:db8::1]:443"},
		{"2001:db8::1", "[2001:db8::10]:443"},
		{"2001:db8::1", "[2001:db8::1"},
		{"::ffff:192.0.2.1", "[::ffff:192.0.2.1]:80"},
		{"::ffff:192.0.2.1", "192.0.2.1:80"},
		{"fe80::1%eth0", "[fe80::1%eth0]:80"},
		{"fe80::1%eth0", "[fe80::1]:80"},
		{"2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got, want := addrString(a, tt.remote), a.String(); got != want {
			t.Errorf("addrString(%s, %q) = %q, want %q", tt.addr, tt.remote, got, want)
		}
	}
	if raceEnabled {
		return // allocation counts are not meaningful under the race detector
	}
	a := netip.MustParseAddr("192.0.2.1")
	if n := testing.AllocsPerRun(100, func() { _ = addrString(a, "192.0.2.1:1234") }); n != 0 {
		t.Errorf("addrString of the peer address allocates %v times", n)
	}
}

func TestExchangeAttemptContexts(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		deadline time.Time
		cancel   bool // cancel the inbound context
		want     error
	}{
		{"live", now.Add(time.Hour), false, nil},
		{"no deadline", time.Time{}, false, nil},
		{"deadline passed", now.Add(-time.Second), false, context.DeadlineExceeded},
		{"inbound canceled", now.Add(time.Hour), true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, cancel := context.WithCancel(context.Background())
			defer cancel()
			x := &exchange{Context: in, deadline: tt.deadline}
			x.base = x
			first := x.newAttempt()
			if got, _ := TargetFrom(first); got != nil {
				t.Fatalf("TargetFrom = %v, want the exchange's nil target", got)
			}
			if d, ok := first.Deadline(); ok != !tt.deadline.IsZero() || ok && !d.Equal(tt.deadline) {
				t.Errorf("attempt deadline = %v, %v, want %v", d, ok, tt.deadline)
			}
			x.cancelAttempt() // a stopped re-send: the request lives on
			if first.Err() == nil {
				t.Error("cancelled attempt context still live")
			}
			second := x.newAttempt()
			if tt.cancel {
				cancel()
			}
			if err := x.ctxErr(); err != tt.want {
				t.Errorf("ctxErr() = %v, want %v", err, tt.want)
			}
			if tt.want == nil && second.Err() != nil {
				t.Errorf("second attempt context ended: %v", second.Err())
			}
			x.cancelAll()
			if second.Err() == nil {
				t.Error("cancelAll left the current attempt live")
			}
		})
	}
}
