package balancer

import "testing"

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
