package redisrate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gatekit/gatekit/ratelimit"
	"github.com/redis/go-redis/v9"
)

// TestQueueReservations drives the script's queue mode directly: a
// request over the limit reserves a future token, MaxQueue bounds the
// reservations ahead and MaxWait how far ahead a token may be.
func TestQueueReservations(t *testing.T) {
	s := startRedis(t)
	c := newClient(t, s.addr())
	l := mustNew(t, c, Config{Name: "queue", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Minute}},
		Mode: ratelimit.Queue, MaxQueue: 3, MaxWait: 150 * time.Second}})
	ks := l.keys("k")
	ctx := context.Background()
	want := []struct {
		kind int64
		wait time.Duration
	}{{outAdmitted, 0}, {outQueued, time.Minute}, {outQueued, 2 * time.Minute}, {outMaxWait, 3 * time.Minute}}
	for i, w := range want {
		o, err := l.run(ctx, ks, l.decideArgs(150*time.Second))
		if err != nil || o.kind != w.kind || o.retry > w.wait || o.retry < w.wait-time.Second {
			t.Fatalf("reservation %d = %+v, %v; want outcome %d, wait %v", i, o, err, w.kind, w.wait)
		}
	}
	long := mustNew(t, c, Config{Name: "queue", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Minute}},
		Mode: ratelimit.Queue, MaxQueue: 2, MaxWait: time.Hour}})
	if o, err := long.run(ctx, ks, long.decideArgs(time.Hour)); err != nil || o.kind != outQueueFull {
		t.Fatalf("with 2 ahead and MaxQueue 2: %+v, %v; want queue full", o, err)
	}
}

// TestScriptReloadedAfterFlush flushes Redis's script cache between
// decisions: the next decision loads the script again and nothing fails.
func TestScriptReloadedAfterFlush(t *testing.T) {
	s := startRedis(t)
	c := newClient(t, s.addr())
	for _, pipeline := range []bool{false, true} {
		l := mustNew(t, c, Config{Name: "flush-" + strconv.FormatBool(pipeline), Pipeline: pipeline, Limit: ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerMinute(10)}}})
		scriptReloadedAfterFlush(t, c, l)
	}
}

func scriptReloadedAfterFlush(t *testing.T, c *redis.Client, l *Limiter) {
	t.Helper()
	ctx := context.Background()
	for i := range 3 {
		if _, err := l.Decide(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if ok, err := c.ScriptExists(ctx, l.scripts.decide.Hash()).Result(); err != nil || !ok[0] {
				t.Fatalf("script not cached after the first decision: %v, %v", ok, err)
			}
		}
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Errors != 0 || st.Decisions != 3 {
		t.Errorf("Stats = %+v, want 3 Redis decisions and no errors", st)
	}
	if d, _ := l.Decide(ctx, "k"); d.Remaining != 6 {
		t.Errorf("Remaining = %d after 4 decisions of 10/m, want 6", d.Remaining)
	}
}
