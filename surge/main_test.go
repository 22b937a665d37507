package surge

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the fixed instant injected-time tests start from.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustLimiter(tb testing.TB, cfg LimiterConfig) *Limiter {
	tb.Helper()
	l, err := NewLimiter(cfg)
	if err != nil {
		tb.Fatalf("NewLimiter(%+v): %v", cfg, err)
	}
	return l
}
