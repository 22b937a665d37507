package redisrate

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/ratelimit"
)

// TestKeysHaveTTLAndHoldNoClientData makes decisions that write buckets,
// reservations and penalty blocks for client addresses and an API key,
// then reads everything in Redis: every key has a TTL, and no key name or
// value holds a request key or anything that parses as an IP address.
func TestKeysHaveTTLAndHoldNoClientData(t *testing.T) {
	s := startRedis(t)
	c := newClient(t, s.addr())
	ctx := context.Background()
	secrets := []string{"203.0.113.7", "2001:db8::1", "198.51.100.0/24", "sk_live_0123456789abcdef"}
	for i, cfg := range []Config{
		{Name: "reject", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 2, Per: time.Minute}, ratelimit.PerHour(100)}, BlockAfter: 2, BlockFor: time.Hour}},
		{Name: "queue", KeySecret: []byte("s3cret"), Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: 10 * time.Millisecond, Burst: 1}, ratelimit.PerHour(100)}, Mode: ratelimit.Queue}},
	} {
		l := mustNew(t, c, cfg)
		for _, k := range secrets {
			for range 5 {
				l.Decide(ctx, k)
			}
		}
		if st := l.Stats(); st.Errors != 0 || st.Decisions != uint64(5*len(secrets)) {
			t.Fatalf("limiter %d: Stats = %+v", i, st)
		}
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3*len(secrets) { // buckets of both limiters, blocks of the first
		t.Fatalf("only %d keys written: %q", len(keys), keys)
	}
	for _, k := range keys {
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
			t.Errorf("key %q: PTTL = %v, %v; want a TTL", k, ttl, err)
		}
		var content []string
		if typ := c.Type(ctx, k).Val(); typ == "hash" {
			for f, v := range c.HGetAll(ctx, k).Val() {
				content = append(content, f, v)
			}
		} else {
			content = append(content, c.Get(ctx, k).Val())
		}
		for _, text := range append(content, k) {
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Errorf("key %q holds %q", k, secret)
				}
			}
			// Key names are PREFIX{HASH}:b; values are numbers. Neither a
			// part between the braces nor a whole value may be an address.
			for _, part := range strings.FieldsFunc(text, func(r rune) bool { return r == '{' || r == '}' }) {
				if _, err := netip.ParseAddr(part); err == nil {
					t.Errorf("key %q holds an IP address %q", k, part)
				}
			}
		}
	}
}
