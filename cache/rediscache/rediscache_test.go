package rediscache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatekit/gatekit/cache"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startRedis starts a real redis-server on a free loopback port, without
// persistence, and returns a client; both are stopped when the test ends.
// The test is skipped only when the binary is not installed.
func startRedis(t testing.TB) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found; apt-get install redis-server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "Ready to accept connections") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server not ready after 10s")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func newStore(t testing.TB, rdb *redis.Client, cfg Config) *Store {
	t.Helper()
	s, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	rdb := startRedis(t)
	ctx := context.Background()
	s := newStore(t, rdb, Config{})
	e := &cache.Entry{Variants: []*cache.Response{{Status: 200, Header: http.Header{"A": {"b"}}, Body: []byte("hello"),
		Tags: []string{"t1"}, Lifetime: time.Minute, StaleIfError: -1}}}
	if _, ok := s.Get(ctx, "GET http://x/"); ok {
		t.Fatal("Get on empty store hit")
	}
	s.Set(ctx, "GET http://x/", e, time.Minute)
	got, ok := s.Get(ctx, "GET http://x/")
	if !ok || string(got.Variants[0].Body) != "hello" || got.Variants[0].Header.Get("A") != "b" || got.Variants[0].Lifetime != time.Minute {
		t.Fatalf("Get = %+v, %v", got, ok)
	}
	if ttl := rdb.TTL(ctx, "gatekit:cache:e:GET http://x/").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("entry TTL %v, want (0, 1m]", ttl)
	}
	if ttl := rdb.TTL(ctx, "gatekit:cache:t:t1").Val(); ttl <= 0 {
		t.Fatalf("tag set TTL %v, want positive", ttl)
	}
	s.Delete(ctx, "GET http://x/")
	if _, ok := s.Get(ctx, "GET http://x/"); ok {
		t.Fatal("Get after Delete hit")
	}
	// Garbage under our key is a miss, reported to OnError.
	var errs []string
	s2 := newStore(t, rdb, Config{Prefix: "other:", OnError: func(op string, err error) { errs = append(errs, op) }})
	rdb.Set(ctx, "other:e:k", "garbage", time.Minute)
	if _, ok := s2.Get(ctx, "k"); ok || len(errs) != 1 {
		t.Fatalf("garbage: hit %v, errors %v", ok, errs)
	}
	s.Close()
	s.Set(ctx, "GET http://y/", e, time.Minute)
	if n := rdb.Exists(ctx, "gatekit:cache:e:GET http://y/").Val(); n != 0 {
		t.Fatal("Set after Close stored")
	}
}

// TestSharedAcrossInstances runs two caches (two gateway instances) on one
// Redis: what one stores the other serves, and a purge on one reaches the
// other's entries.
func TestSharedAcrossInstances(t *testing.T) {
	rdb := startRedis(t)
	var upstream sync.Map
	newInstance := func(name string) (*cache.Cache, http.Handler) {
		c, err := cache.New(newStore(t, rdb, Config{}), cache.Config{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := upstream.LoadOrStore(r.URL.Path, new(int))
			*n.(*int)++
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("Surrogate-Key", "group"+r.URL.Query().Get("g"))
			fmt.Fprintf(w, "%s %d", r.URL.Path, *n.(*int))
		}))
	}
	ca, a := newInstance("a")
	_, b := newInstance("b")
	get := func(h http.Handler, target string) (string, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec.Body.String(), rec.Header().Get("Cache-Status")
	}
	get(a, "http://example.com/p1?g=1")
	get(a, "http://example.com/api/p2?g=2")
	get(b, "http://example.com/api/p3?g=2")
	if body, status := get(b, "http://example.com/p1?g=1"); body != "/p1 1" || !strings.HasPrefix(status, "b; hit; ttl=") {
		t.Fatalf("instance b: %q %q, want a's stored response", body, status)
	}
	if n := ca.PurgeTag(context.Background(), "group2"); n != 2 {
		t.Fatalf("PurgeTag on a removed %d, want 2 (one stored by b)", n)
	}
	if _, status := get(b, "http://example.com/api/p3?g=2"); !strings.Contains(status, "fwd=uri-miss") {
		t.Fatalf("after purge on a, b still serves p3: %q", status)
	}
	get(b, "http://example.com/api/p4")
	if n := ca.PurgePrefix(context.Background(), "http://example.com/api/"); n != 2 {
		t.Fatalf("PurgePrefix on a removed %d, want 2", n)
	}
	if _, status := get(a, "http://example.com/p1?g=1"); !strings.HasPrefix(status, "a; hit; ttl=") {
		t.Fatalf("p1 after prefix purge: %q, want still cached", status)
	}
}

func TestRedisDownIsAMiss(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	var errs int
	s := newStore(t, rdb, Config{OnError: func(string, error) { errs++ }})
	c, err := cache.New(s, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := cache.Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}))
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 || rec.Body.String() != "ok" {
			t.Fatalf("with Redis down: %d %q", rec.Code, rec.Body)
		}
	}
	if errs == 0 {
		t.Fatal("OnError not called")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, cfg := range []Config{{Timeout: -1}, {MaxEntrySize: -1}} {
		if _, err := New(rdb, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestGlobEscape(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "a*b?[c]\\": `a\*b\?\[c\]\\`} {
		if got := globEscape(in); got != want {
			t.Errorf("globEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTagSetsBounded: a tag's set holds only keys whose entries may still
// exist: expired members are trimmed on Set, Delete removes the key from
// its tags' sets, and PurgeTag empties a set larger than one batch.
func TestTagSetsBounded(t *testing.T) {
	rdb := startRedis(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStore(t, rdb, Config{Now: func() time.Time { return now }})
	entry := func(tags ...string) *cache.Entry {
		return &cache.Entry{Variants: []*cache.Response{{Status: 200, Body: []byte("x"), Tags: tags}}}
	}
	const hot = "gatekit:cache:t:hot"
	for i := range 100 {
		s.Set(ctx, fmt.Sprintf("GET http://x/%d", i), entry("hot"), time.Second)
	}
	if typ := rdb.Type(ctx, hot).Val(); typ != "zset" {
		t.Fatalf("tag key type %q, want zset", typ)
	}
	if n := rdb.ZCard(ctx, hot).Val(); n != 100 {
		t.Fatalf("tag set holds %d keys, want 100", n)
	}
	now = now.Add(time.Second + tagGrace + time.Millisecond) // all 100 expired, beyond the grace
	s.Set(ctx, "GET http://x/new", entry("hot"), time.Hour)
	if n := rdb.ZCard(ctx, hot).Val(); n != 1 {
		t.Fatalf("after expiry the tag set holds %d keys, want 1", n)
	}
	s.Set(ctx, "GET http://x/a", entry("hot", "a"), time.Hour)
	s.Delete(ctx, "GET http://x/a")
	if n, m := rdb.ZCard(ctx, hot).Val(), rdb.Exists(ctx, "gatekit:cache:t:a").Val(); n != 1 || m != 0 {
		t.Fatalf("after Delete: hot holds %d keys (want 1), tag a exists %d (want 0)", n, m)
	}
	const many = 1234
	for i := range many {
		s.Set(ctx, fmt.Sprintf("GET http://y/%d", i), entry("big"), time.Hour)
	}
	s.Set(ctx, "GET http://y/other", entry("other"), time.Hour)
	if n, err := s.PurgeTag(ctx, "big"); err != nil || n != many {
		t.Fatalf("PurgeTag(big) = %d, %v, want %d", n, err, many)
	}
	if n := rdb.Exists(ctx, "gatekit:cache:t:big", "gatekit:cache:e:GET http://y/0", "gatekit:cache:e:GET http://y/1233").Val(); n != 0 {
		t.Fatalf("after PurgeTag %d of the set and its entries remain", n)
	}
	if _, ok := s.Get(ctx, "GET http://y/other"); !ok {
		t.Fatal("PurgeTag(big) removed an entry without the tag")
	}
}

// BenchmarkStore measures a hit (one round trip to a real Redis on
// loopback and the entry's decoding) and a store (the entry, its tag set
// and their TTLs) of a 4 KiB response.
func BenchmarkStore(b *testing.B) {
	rdb := startRedis(b)
	ctx := context.Background()
	s := newStore(b, rdb, Config{})
	defer s.Close()
	e := &cache.Entry{Variants: []*cache.Response{{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: []byte(strings.Repeat("x", 4<<10)), Tags: []string{"users"}, Lifetime: time.Minute, StaleIfError: -1}}}
	s.Set(ctx, "GET http://api.example/users/1", e, time.Minute)
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.Get(ctx, "GET http://api.example/users/1"); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Set(ctx, "GET http://api.example/users/2", e, time.Minute)
		}
	})
}
