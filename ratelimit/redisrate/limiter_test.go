package redisrate

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/reqkey"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// server is a redis-server process on a loopback port, started by a test.
type server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
	// exited is closed when the process started last has exited.
	exited chan struct{}
}

// startRedis starts a real redis-server on a free loopback port, without
// persistence, and stops it when the test ends. It skips the test when
// redis-server is not installed.
func startRedis(t testing.TB, extra ...string) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found; apt-get install -y redis-server")
	}
	s := &server{t: t, bin: bin, dir: t.TempDir(), port: freePort(t), args: extra}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// start runs the server on its port and waits until it answers PING.
func (s *server) start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ping(s.addr()) {
			s.exited = exited
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("redis-server %v exited before it was ready", args)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatal("redis-server not ready after 10s")
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not a wait for correctness
	}
}

// ping reports whether a Redis server at addr answers PING.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// kill stops the server at once (SIGKILL) and waits for it to exit.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// pause freezes the server (SIGSTOP): connections stay open, nothing answers.
func (s *server) pause() { s.cmd.Process.Signal(syscall.SIGSTOP) }

func newClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// mustNew returns a limiter or fails the test. A test that does not set
// Timeout gets 5s rather than the default 50ms: a loaded machine must not
// turn a slow call into a fallback decision where the test checks Redis's
// answers (the failure tests set their own).
func mustNew(t testing.TB, c redis.UniversalClient, cfg Config) *Limiter {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	l, err := New(c, cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	c := newClient(t, "127.0.0.1:1")
	rates := []ratelimit.Rate{ratelimit.PerSecond(10)}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no name", Config{Limit: ratelimit.Config{Rates: rates}}},
		{"no rates", Config{Name: "x"}},
		{"invalid limit", Config{Name: "x", Limit: ratelimit.Config{Rates: rates, MaxQueue: -1}}},
		{"finer than a microsecond", Config{Name: "x", Limit: ratelimit.Config{Rates: []ratelimit.Rate{ratelimit.PerSecond(2_000_000)}}}},
		{"negative timeout", Config{Name: "x", Limit: ratelimit.Config{Rates: rates}, Timeout: -1}},
		{"negative instances", Config{Name: "x", Limit: ratelimit.Config{Rates: rates}, Instances: -1}},
		{"unknown fail mode", Config{Name: "x", Limit: ratelimit.Config{Rates: rates}, OnError: 7}},
	} {
		if _, err := New(c, tc.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tc.name)
		}
	}
	if _, err := New(nil, Config{Name: "x", Limit: ratelimit.Config{Rates: rates}}); err == nil {
		t.Error("New(nil client) succeeded")
	}
	slow := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer slow.Close()
	if _, err := New(slow, Config{Name: "x", Limit: ratelimit.Config{Rates: rates}}); err == nil {
		t.Error("New accepted a client that ignores context deadlines")
	}
	if m, err := ParseFailMode("closed"); err != nil || m != FailClosed {
		t.Errorf("ParseFailMode(closed) = %v, %v", m, err)
	}
	if _, err := ParseFailMode("shut"); err == nil {
		t.Error("ParseFailMode(shut) succeeded")
	}
}

// TestDecideMatchesLocalLimiter runs the same requests through a local
// ratelimit.Limiter and a Redis one with two slow policies: the decisions
// (admission, tokens left, most restrictive policy) are the same.
func TestDecideMatchesLocalLimiter(t *testing.T) {
	s := startRedis(t)
	rates := []ratelimit.Rate{{Count: 1, Per: time.Hour, Burst: 3, Name: "hour"}, {Count: 2, Per: time.Minute, Name: "minute"}}
	local, err := ratelimit.New(ratelimit.Config{Rates: rates})
	if err != nil {
		t.Fatal(err)
	}
	shared := mustNew(t, newClient(t, s.addr()), Config{Name: "match", Limit: ratelimit.Config{Rates: rates}})
	ctx := context.Background()
	for i := range 5 {
		want, werr := local.Decide(ctx, "k")
		got, gerr := shared.Decide(ctx, "k")
		if got.Allowed != want.Allowed || got.Remaining != want.Remaining || got.Policy != want.Policy || errors.Is(gerr, ratelimit.ErrLimited) != errors.Is(werr, ratelimit.ErrLimited) {
			t.Errorf("request %d: Redis %+v, %v; local %+v, %v", i, got, gerr, want, werr)
		}
		if !got.Allowed && (got.RetryAfter < 29*time.Second || got.RetryAfter > 30*time.Second) {
			t.Errorf("request %d: RetryAfter = %v, want ~30s (the minute policy)", i, got.RetryAfter)
		}
	}
	if st := shared.Stats(); st.Decisions != 5 || st.Fallbacks != 0 || !st.UsingRedis {
		t.Errorf("Stats = %+v, want 5 Redis decisions", st)
	}
}

// TestPenaltyIsShared blocks a key through one instance and checks that
// another instance sees the block.
func TestPenaltyIsShared(t *testing.T) {
	s := startRedis(t)
	cfg := Config{Name: "penalty", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Hour}}, BlockAfter: 2, BlockFor: 2 * time.Hour}}
	a := mustNew(t, newClient(t, s.addr()), cfg)
	b := mustNew(t, newClient(t, s.addr()), cfg)
	ctx := context.Background()
	if _, err := a.Decide(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decide(ctx, "k"); !errors.Is(err, ratelimit.ErrLimited) {
		t.Fatalf("second request = %v, want ErrLimited", err)
	}
	d, err := b.Decide(ctx, "k")
	if !errors.Is(err, ratelimit.ErrBlocked) || !d.Blocked || d.RetryAfter < 2*time.Hour-time.Second {
		t.Fatalf("third request (other instance) = %+v, %v; want blocked for 2h", d, err)
	}
	if _, err := a.Decide(ctx, "k"); !errors.Is(err, ratelimit.ErrBlocked) {
		t.Errorf("during the block = %v, want ErrBlocked", err)
	}
}

// TestDryRunAdmitsButReports checks that a dry-run limiter admits a
// request over the limit, reports it as limited and takes no token.
func TestDryRunAdmitsButReports(t *testing.T) {
	s := startRedis(t)
	l := mustNew(t, newClient(t, s.addr()), Config{Name: "dry", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 2, Per: time.Hour}}, DryRun: true, BlockAfter: 1, BlockFor: time.Hour}})
	ctx := context.Background()
	for i := range 5 {
		d, err := l.Decide(ctx, "k")
		if err != nil || !d.Allowed || d.Limited != (i >= 2) || d.Blocked {
			t.Errorf("request %d = %+v, %v; want admitted, limited from the third, never blocked", i, d, err)
		}
	}
}

// TestQueueModeWaitsAndRefundsOnCancel checks Decide in Queue mode: it
// waits for its reserved token; a deadline shorter than the wait fails at
// once wrapping context.DeadlineExceeded; a cancelled wait gives its
// token back.
func TestQueueModeWaitsAndRefundsOnCancel(t *testing.T) {
	s := startRedis(t)
	l := mustNew(t, newClient(t, s.addr()), Config{Name: "wait", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 50, Per: time.Second, Burst: 1}},
		Mode: ratelimit.Queue, MaxWait: 10 * time.Second}})
	ctx := context.Background()
	start := time.Now()
	for i := range 3 {
		if d, err := l.Decide(ctx, "k"); err != nil || !d.Allowed {
			t.Fatalf("request %d = %+v, %v", i, d, err)
		}
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Errorf("3 requests at 50/s with a burst of 1 took %v, want >= 40ms", el)
	}
	slow := mustNew(t, newClient(t, s.addr()), Config{Name: "slow", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 1, Per: time.Minute}},
		Mode: ratelimit.Queue, MaxWait: 10 * time.Minute}})
	slow.Decide(ctx, "k")
	dctx, dcancel := context.WithTimeout(ctx, time.Second)
	defer dcancel()
	var le *ratelimit.LimitError
	if _, err := slow.Decide(dctx, "k"); !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &le) {
		t.Errorf("wait past the deadline = %v, want a LimitError wrapping DeadlineExceeded", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := slow.Decide(cctx, "k"); done <- err }()
	for deadline := time.Now().Add(5 * time.Second); slow.Stats().Decisions < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("queued Decide never reached Redis")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait = %v", err)
	}
	// The cancelled request gave its reservation back: the next waits one
	// interval, not two.
	o, err := slow.run(ctx, slow.keys("k"), slow.decideArgs(10*time.Minute))
	if err != nil || o.kind != outQueued || o.retry > time.Minute {
		t.Errorf("after the cancel: %+v, %v; want a wait of at most 1m", o, err)
	}
}

// TestMiddlewareOverRedis serves requests through ratelimit.Middleware
// with a Redis limiter and a local one: the same headers, 429s and
// refunds as with local limiters alone.
func TestMiddlewareOverRedis(t *testing.T) {
	s := startRedis(t)
	shared := mustNew(t, newClient(t, s.addr()), Config{Name: "mw", Limit: ratelimit.Config{Rates: []ratelimit.Rate{{Count: 3, Per: time.Hour, Name: "shared"}}}})
	local, err := ratelimit.New(ratelimit.Config{Rates: []ratelimit.Rate{{Count: 2, Per: time.Hour, Name: "local"}}, Key: reqkey.Global})
	if err != nil {
		t.Fatal(err)
	}
	h := ratelimit.Middleware(shared, local)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var codes []int
	var last *httptest.ResponseRecorder
	for range 3 {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest("GET", "/", nil))
		codes = append(codes, last.Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("codes = %v, want 200 200 429 (the local limiter's 2/h)", codes)
	}
	if got := last.Header().Get("RateLimit-Policy"); got != `"shared";q=3;w=3600, "local";q=2;w=3600` {
		t.Errorf("RateLimit-Policy = %q", got)
	}
	if got := last.Header().Get("RateLimit"); got != `"local";r=0;t=1800` && got != `"local";r=0;t=1799` {
		t.Errorf("RateLimit = %q", got)
	}
	// The third request's shared token was refunded: one is left.
	d, err := shared.Decide(context.Background(), "192.0.2.1")
	if err != nil || d.Remaining != 0 {
		t.Errorf("shared bucket after the refund: %+v, %v; want admitted with 0 left", d, err)
	}
}

// BenchmarkDecide compares one decision of the local limiter with one
// through Redis on loopback: serial (the latency a decision adds) and
// parallel (decisions per second over the client's connection pool, and
// with Config.Pipeline), on keys spread over 1,000 clients. "redis/pipelined16" sends the decision
// script for 16 keys in one pipeline: what batching concurrent decisions
// could gain.
func BenchmarkDecide(b *testing.B) {
	rates := []ratelimit.Rate{{Count: 1_000_000, Per: time.Second}}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i%256) + "/" + strconv.Itoa(i)
	}
	ctx := context.Background()
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	}
	b.Run("local", func(b *testing.B) {
		l, err := ratelimit.New(ratelimit.Config{Rates: rates})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			l.Decide(ctx, keys[i%len(keys)])
		}
		report(b)
	})
	b.Run("redis/serial", func(b *testing.B) {
		s := startRedis(b)
		l := mustNew(b, newClient(b, s.addr()), Config{Name: "bench", Limit: ratelimit.Config{Rates: rates}})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := l.Decide(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	for _, pipeline := range []bool{false, true} {
		name := "redis/parallel"
		if pipeline {
			name = "redis/parallel-pipeline"
		}
		b.Run(name, func(b *testing.B) {
			s := startRedis(b)
			l := mustNew(b, newClient(b, s.addr()), Config{Name: "bench", Pipeline: pipeline, Limit: ratelimit.Config{Rates: rates}})
			b.ReportAllocs()
			b.SetParallelism(8)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Decide(ctx, keys[next.Add(1)%int64(len(keys))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b)
		})
	}
	b.Run("redis/pipelined16", func(b *testing.B) {
		s := startRedis(b)
		c := newClient(b, s.addr())
		l := mustNew(b, c, Config{Name: "bench", Limit: ratelimit.Config{Rates: rates}})
		l.Decide(ctx, "load the script")
		b.ReportAllocs()
		for i := 0; b.Loop(); i += 16 {
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j := range 16 {
					args := append([]any{"0", "1000000"}, l.args...)
					p.EvalSha(ctx, l.scripts.decide.Hash(), keysSlice(l.keys(keys[(i+j)%len(keys)])), args...)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(16*float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
}

func keysSlice(ks [2]string) []string { return ks[:] }

// FuzzParseFailMode checks that ParseFailMode accepts exactly the names
// FailMode.String gives and round-trips them.
func FuzzParseFailMode(f *testing.F) {
	for _, s := range []string{"local", "open", "closed", "", "Open", "FailMode(7)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseFailMode(s)
		if err != nil {
			return
		}
		if m.String() != s {
			t.Fatalf("ParseFailMode(%q) = %v, which prints as %q", s, m, m.String())
		}
	})
}
