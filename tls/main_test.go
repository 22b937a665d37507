package tls

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// certmagic refreshes a storage lock file from a goroutine that
		// sleeps five seconds between checks and ends on its next wake-up
		// once the lock is released, which can be after the test ends.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
		// certmagic keeps one request rate limiter per CA and account for
		// the life of the process, each with its own goroutine.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
	)
}
