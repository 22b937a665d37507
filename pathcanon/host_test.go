package pathcanon

import "testing"

func TestHostRoutingForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM:8443", "example.com"},
		{"example.com.", "example.com"},
		{"example.com.:80", "example.com"},
		{"[::1]:8080", "[::1]"},
		{"[FE80::1]", "[fe80::1]"},
		{"", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
	}
	for _, tc := range tests {
		if got := Host(tc.in); got != tc.want {
			t.Errorf("Host(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHostDoesNotAllocateWhenCanonical(t *testing.T) {
	for _, h := range []string{"api.example.com", "[::1]", ""} {
		if n := testing.AllocsPerRun(100, func() { _ = Host(h) }); n != 0 {
			t.Errorf("Host(%q) allocs = %v, want 0", h, n)
		}
	}
}
