package redisrate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/metrics"
	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
)

// TestInstancesShareOneLimit runs three limiter instances, each with its
// own connection pool, against one Redis under concurrent load on one
// key, and checks that together they admit the limit within 1%: rate ×
// elapsed (on Redis's clock), plus the tokens in the bucket when the
// window opens, minus those left when it closes. The window opens once
// the load has emptied the bucket, and the bucket holds two seconds of
// tokens, so a stall of the load (or of the whole machine) loses nothing
// the count does not see.
// With the application clocks of the instances skewed by seconds the
// result is the same: decisions read only Redis's clock.
func TestInstancesShareOneLimit(t *testing.T) {
	s := startRedis(t)
	run := 2 * time.Second
	if testing.Short() {
		run = time.Second
	}
	// The rate is low enough that the load exceeds it many times over even
	// on a slow machine under the race detector.
	rate := ratelimit.Rate{Count: 200, Per: time.Second, Burst: 400}
	for _, tc := range []struct {
		name     string
		skews    []time.Duration
		pipeline bool
	}{
		{"clocks in step", []time.Duration{0, 0, 0}, false},
		{"clocks skewed", []time.Duration{-5 * time.Second, 0, 7 * time.Second}, false},
		{"pipelined", []time.Duration{0, 0, 0}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctrl := newClient(t, s.addr())
			var insts []*Limiter
			for _, skew := range tc.skews {
				l := mustNew(t, newClient(t, s.addr()), Config{Name: "shared-" + tc.name, Pipeline: tc.pipeline, Limit: ratelimit.Config{Rates: []ratelimit.Rate{rate}}})
				l.now = func() time.Time { return time.Now().Add(skew) }
				insts = append(insts, l)
			}
			ctx := context.Background()
			var admitted, warmups atomic.Int64
			var wg, ready sync.WaitGroup
			start, done := make(chan struct{}), make(chan struct{})
			for _, l := range insts {
				for range 4 {
					wg.Add(1)
					ready.Add(1)
					go func() {
						defer wg.Done()
						// Connect, load the script and empty the bucket
						// before the window opens.
						for {
							warmups.Add(1)
							d, err := l.Decide(ctx, "hot")
							if err != nil && !errors.Is(err, ratelimit.ErrLimited) {
								t.Error(err)
							}
							if !d.Allowed {
								break
							}
						}
						ready.Done()
						<-start
						for {
							select {
							case <-done:
								return
							default:
							}
							if d, err := l.Decide(ctx, "hot"); err == nil && d.Allowed {
								admitted.Add(1)
							}
						}
					}()
				}
			}
			ready.Wait()
			bucket := insts[0].keys("hot")[0]
			t1, avail1 := tokens(t, ctrl, bucket, rate)
			close(start)
			time.Sleep(run) // the length of the load, not a wait for a result
			close(done)
			wg.Wait()
			t2, avail2 := tokens(t, ctrl, bucket, rate)
			got := float64(admitted.Load())
			// What GCRA allows in the window: the tokens that accrued, plus
			// those in the bucket when it opened, minus those still there
			// when it closed (earned, but the load had not asked for them).
			want := t2.Sub(t1).Seconds()*float64(rate.Count) + avail1 - avail2
			calls := uint64(0)
			for _, l := range insts {
				st := l.Stats()
				calls += st.Decisions
				if st.Fallbacks != 0 || st.Errors != 0 {
					t.Fatalf("Stats = %+v: some decisions did not reach Redis", st)
				}
			}
			calls -= uint64(warmups.Load())
			if tc.pipeline {
				var pipelines uint64
				for _, l := range insts {
					pipelines += l.Stats().Pipelines
				}
				t.Logf("%d decisions in %d pipelines", calls+uint64(warmups.Load()), pipelines)
				if pipelines == 0 || pipelines >= calls+uint64(warmups.Load()) {
					t.Errorf("%d pipelines for %d decisions: concurrent decisions were not sent together", pipelines, calls)
				}
			}
			t.Logf("admitted %.0f of %d decisions in %v of Redis time; limit %.1f (%.1f tokens in the bucket at the start, %.1f at the end)",
				got, calls, t2.Sub(t1), want, avail1, avail2)
			if got > want*1.01+1 || got < want*0.99-1 { // ±1 for the fraction of a token
				t.Errorf("admitted %.0f, want %.1f ±1%%", got, want)
			}
			if calls < uint64(3*want) {
				t.Errorf("only %d decisions for a limit of %.0f: the load did not exceed the limit", calls, want)
			}
		})
	}
}

// probeScript reads Redis's clock and a bucket's arrival time at once.
var probeScript = redis.NewScript(`
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000000 + tonumber(t[2]), tonumber(redis.call('HGET', KEYS[1], '1') or '0')}`)

// tokens returns Redis's time and the tokens (fractional) in a bucket of
// one policy r at that time.
func tokens(t *testing.T, c *redis.Client, bucket string, r ratelimit.Rate) (time.Time, float64) {
	t.Helper()
	v, err := probeScript.Run(context.Background(), c, []string{bucket}).Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	iv := float64(micros(r))
	debt := float64(max(v[1]-v[0], 0))
	return time.UnixMicro(v[0]), (iv*float64(r.Burst) - debt) / iv
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// TestRedisFailureModes freezes Redis (SIGSTOP), then kills it and starts
// it again on the same port, under load, in each OnError mode. While
// Redis cannot answer the limiter decides as its mode says (a local limit
// of the shared limit ÷ Instances, everything admitted, or everything
// rejected as unavailable); no decision waits longer than the timeout;
// every switch is logged and counted; and once Redis is back, decisions
// return to it within seconds.
func TestRedisFailureModes(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, tc := range []struct {
		mode     FailMode
		pipeline bool
	}{{FallbackLocal, false}, {FailOpen, false}, {FailClosed, false}, {FallbackLocal, true}} {
		mode := tc.mode
		name := mode.String()
		if tc.pipeline {
			name += " pipelined"
		}
		t.Run(name, func(t *testing.T) {
			s := startRedis(t)
			logs := &syncBuffer{}
			l := mustNew(t, newClient(t, s.addr()), Config{Name: "failure", OnError: mode, Instances: 2, Pipeline: tc.pipeline,
				Timeout: timeout, BreakerFailures: 3, BreakerCooldown: 200 * time.Millisecond,
				Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 100, Per: time.Second, Burst: 10}},
					Logger: slog.New(slog.NewTextHandler(logs, nil))}})
			var (
				slowest                           atomic.Int64
				admitted, limited, unavail, other atomic.Int64
				wg                                sync.WaitGroup
			)
			stop := make(chan struct{})
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond): // pace the load
						}
						start := time.Now()
						d, err := l.Decide(context.Background(), "k")
						if el := int64(time.Since(start)); el > slowest.Load() {
							slowest.Store(el)
						}
						switch {
						case err == nil && d.Allowed:
							admitted.Add(1)
						case errors.Is(err, ratelimit.ErrLimited):
							limited.Add(1)
						case errors.Is(err, ratelimit.ErrUnavailable):
							unavail.Add(1)
						default:
							other.Add(1)
						}
					}
				}()
			}
			defer func() { close(stop); wg.Wait() }()
			reset := func() {
				admitted.Store(0)
				limited.Store(0)
				unavail.Store(0)
				other.Store(0)
			}
			waitFor(t, 5*time.Second, "decisions through Redis", func() bool { return l.Stats().Decisions > 50 })

			s.pause()
			waitFor(t, 5*time.Second, "switch away from a frozen Redis", func() bool { return !l.Stats().UsingRedis })
			reset()
			start := time.Now()
			waitFor(t, 5*time.Second, "fallback decisions", func() bool { return admitted.Load()+limited.Load()+unavail.Load() > 200 })
			elapsed := time.Since(start)
			a, lim, u, o := admitted.Load(), limited.Load(), unavail.Load(), other.Load()
			t.Logf("without Redis for %v: admitted %d, limited %d, unavailable %d, other %d", elapsed, a, lim, u, o)
			switch mode {
			case FallbackLocal: // 50/s with a burst of 5 per instance
				if bound := 5 + int64(elapsed.Seconds()*50) + 5; a < 1 || lim < 1 || u != 0 || a > bound {
					t.Errorf("local fallback admitted %d (at most %d), limited %d, unavailable %d", a, bound, lim, u)
				}
			case FailOpen:
				if lim != 0 || u != 0 {
					t.Errorf("fail open rejected: limited %d, unavailable %d", lim, u)
				}
			case FailClosed:
				if a != 0 || lim != 0 {
					t.Errorf("fail closed admitted %d, limited %d", a, lim)
				}
			}
			if o != 0 {
				t.Errorf("%d decisions failed otherwise", o)
			}

			s.kill()
			s.start()
			waitFor(t, 10*time.Second, "return to a restarted Redis", func() bool { return l.Stats().UsingRedis })
			before := l.Stats().Decisions
			waitFor(t, 5*time.Second, "decisions through Redis again", func() bool { return l.Stats().Decisions > before+20 })

			// The slack absorbs the scheduling of a loaded machine under the
			// race detector; a call that ignored its deadline would wait
			// for go-redis's 3s read timeout.
			if worst := time.Duration(slowest.Load()); worst > timeout+500*time.Millisecond {
				t.Errorf("slowest decision took %v, want at most the %v timeout (+500ms scheduling slack)", worst, timeout)
			}
			st := l.Stats()
			if st.ToFallback < 1 || st.ToRedis < 1 || st.Errors < 3 {
				t.Errorf("Stats = %+v, want the switches counted", st)
			}
			if out := logs.String(); !strings.Contains(out, "deciding without it") || !strings.Contains(out, "Redis is back") {
				t.Errorf("switches not logged:\n%s", out)
			}
		})
	}
}

// TestRedisCluster starts a three-node Redis Cluster and checks that
// limits hold for keys spread over every node, shared by two instances:
// both keys of a decision hash to one slot (a cross-slot script would
// fail), and every key written has a TTL.
func TestRedisCluster(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not found; apt-get install -y redis-server")
	}
	var nodes []*server
	var addrs []string
	for range 3 {
		n := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		nodes = append(nodes, n)
		addrs = append(addrs, n.addr())
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, a := range addrs {
		c := newClient(t, a)
		waitFor(t, 20*time.Second, "cluster state ok on "+a, func() bool {
			info, err := c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
	}
	newCluster := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		return c
	}
	cfg := Config{Name: "cluster", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 5, Per: time.Hour}}, BlockAfter: 3, BlockFor: time.Hour}}
	a, b := mustNew(t, newCluster(), cfg), mustNew(t, newCluster(), cfg)
	for k := range 30 {
		key := "client-" + strconv.Itoa(k)
		n := 0
		for i := range 8 {
			l := a
			if i%2 == 1 {
				l = b
			}
			if d, err := l.Decide(ctx, key); err == nil && d.Allowed {
				n++
			} else if !errors.Is(err, ratelimit.ErrLimited) && !errors.Is(err, ratelimit.ErrBlocked) {
				t.Fatalf("key %s request %d: %v", key, i, err)
			}
		}
		if n != 5 {
			t.Errorf("key %s: %d admitted by two instances, want 5", key, n)
		}
	}
	for i, n := range nodes {
		c := newClient(t, n.addr())
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Errorf("node %d holds no key: keys not spread over the cluster", i)
		}
		for _, k := range keys {
			if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl <= 0 {
				t.Errorf("node %d key %q: PTTL %v, %v; want a TTL", i, k, ttl, err)
			}
		}
	}
	if st := a.Stats(); st.Errors != 0 || st.Fallbacks != 0 {
		t.Errorf("Stats = %+v, want every decision through the cluster", st)
	}
}

// TestStatsReachMetrics: a limiter deciding through a real Redis, then
// without it once Redis is killed, shows both in package metrics'
// families for shared limiters.
func TestStatsReachMetrics(t *testing.T) {
	s := startRedis(t)
	l := mustNew(t, newClient(t, s.addr()), Config{Name: "metrics", BreakerFailures: 1, BreakerCooldown: time.Hour,
		Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 100, Per: time.Second, Burst: 100}}, Key: reqkey.Global}})
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddSharedLimiter("shared", l); err != nil {
		t.Fatal(err)
	}
	decide := func(n int) {
		for range n {
			if _, err := l.Decide(context.Background(), "k"); err != nil {
				t.Fatal(err)
			}
		}
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	decide(3)
	text := scrape()
	for _, want := range []string{
		`gatekit_ratelimit_shared_decisions_total{limiter="shared"} 3`,
		`gatekit_ratelimit_shared_store_in_use{limiter="shared"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("with Redis, /metrics lacks %q", want)
		}
	}
	s.kill()
	decide(2) // the first call fails and opens the breaker; the local fallback decides both
	text = scrape()
	for _, want := range []string{
		`gatekit_ratelimit_shared_decisions_total{limiter="shared"} 3`,
		`gatekit_ratelimit_shared_fallback_decisions_total{limiter="shared"} 2`,
		`gatekit_ratelimit_shared_errors_total{limiter="shared"} 1`,
		`gatekit_ratelimit_shared_store_left_total{limiter="shared"} 1`,
		`gatekit_ratelimit_shared_store_in_use{limiter="shared"} 0`,
		`gatekit_ratelimit_shared_fallback_rejected_total{limiter="shared"} 0`,
		`gatekit_ratelimit_shared_fallback_keys{limiter="shared"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("without Redis, /metrics lacks %q:\n%s", want, text)
		}
	}
}
