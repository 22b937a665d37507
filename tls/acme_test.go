package tls

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
)

func TestNewACMERejectsInvalidConfig(t *testing.T) {
	allow := func(context.Context, string) error { return nil }
	tests := []struct {
		name string
		cfg  ACMEConfig
		ok   bool
	}{
		{"domains", ACMEConfig{Domains: []string{"a.example.com", "b.example.com"}}, true},
		{"on demand", ACMEConfig{OnDemand: &OnDemandPolicy{Allow: allow}}, true},
		{"one challenge", ACMEConfig{Domains: []string{"a.example.com"}, DisableHTTPChallenge: true, TLSALPNPort: 8443}, true},
		{"invalid name", ACMEConfig{Domains: []string{"a b.example.com"}}, false},
		{"wildcard not leftmost", ACMEConfig{Domains: []string{"a.*.example.com"}}, false},
		{"on demand without Allow", ACMEConfig{OnDemand: &OnDemandPolicy{}}, false},
		{"on demand negative rate", ACMEConfig{OnDemand: &OnDemandPolicy{Allow: allow, Rate: -1}}, false},
		{"on demand negative interval", ACMEConfig{OnDemand: &OnDemandPolicy{Allow: allow, Interval: -time.Minute}}, false},
		{"negative interval", ACMEConfig{Domains: []string{"a.example.com"}, RenewCheckInterval: -time.Second}, false},
		// Configurations that cannot obtain what they name, or ignore a field.
		{"wildcard (needs DNS-01)", ACMEConfig{Domains: []string{"*.b.example.com"}}, false},
		{"nothing to obtain", ACMEConfig{}, false},
		{"no challenge left", ACMEConfig{Domains: []string{"a.example.com"}, DisableHTTPChallenge: true, DisableTLSALPNChallenge: true}, false},
		{"port of a disabled challenge", ACMEConfig{Domains: []string{"a.example.com"}, DisableHTTPChallenge: true, HTTPPort: 8080}, false},
		{"port of a disabled TLS-ALPN challenge", ACMEConfig{Domains: []string{"a.example.com"}, DisableTLSALPNChallenge: true, TLSALPNPort: 8443}, false},
		{"storage and storage dir", ACMEConfig{Domains: []string{"a.example.com"}, Storage: &certmagic.FileStorage{Path: "x"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StorageDir = t.TempDir()
			a, err := NewACME(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("NewACME error = %v, want ok=%v", err, tc.ok)
			}
			if a != nil {
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
				_ = a.Close() // idempotent
			}
		})
	}
}

func TestWindowLimiterCapsEventsPerWindow(t *testing.T) {
	l := &windowLimiter{n: 2, per: time.Minute}
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true},
		{10 * time.Second, true},
		{20 * time.Second, false}, // two in the last minute
		{60 * time.Second, true},  // the first left the window
		{65 * time.Second, false},
		{70*time.Second + 1, true},
	}
	for _, st := range steps {
		if got := l.allowAt(t0.Add(st.at)); got != st.want {
			t.Errorf("allowAt(t0+%v) = %v, want %v", st.at, got, st.want)
		}
	}
}
