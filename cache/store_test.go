package cache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPurge(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "all "+strings.Trim(r.URL.Path, "/"))
		w.Header().Set("Cache-Tag", "path:"+r.URL.Path+", x")
		fmt.Fprintf(w, "v%d", n)
	})
	urls := []string{"http://example.com/api/a", "http://example.com/api/b", "http://example.com/web/c", "http://example.com/web/d"}
	fill := func() {
		for _, u := range urls {
			f.get(u)
		}
	}
	hits := func() (n int) {
		for _, u := range urls {
			if _, s := f.get(u); isHit(s) {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		purge func() int
		want  int // removed
		left  int // hits afterwards
	}{
		{"key", func() int {
			if f.c.Purge(ctx, f.c.Key(httptest.NewRequest("GET", urls[0], nil))) {
				return 1
			}
			return 0
		}, 1, 3},
		{"prefix", func() int { return f.c.PurgePrefix(ctx, "http://example.com/api/") }, 2, 2},
		{"surrogate key", func() int { return f.c.PurgeTag(ctx, "web/c") }, 1, 3},
		{"cache tag", func() int { return f.c.PurgeTag(ctx, "path:/web/d") }, 1, 3},
		{"shared tag", func() int { return f.c.PurgeTag(ctx, "all") }, 4, 0},
		{"unknown", func() int { return f.c.PurgeTag(ctx, "nope") }, 0, 4},
	}
	for _, tc := range tests {
		fill()
		if got := hits(); got != 4 {
			t.Fatalf("%s: %d hits before purge, want 4", tc.name, got)
		}
		if got := tc.purge(); got != tc.want {
			t.Errorf("%s: purged %d, want %d", tc.name, got, tc.want)
		}
		if got := hits(); got != tc.left {
			t.Errorf("%s: %d hits after purge, want %d", tc.name, got, tc.left)
		}
	}
}

func TestMaxObjectSize(t *testing.T) {
	big := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name   string
		length bool
		status string
	}{
		{"content-length", true, "gatekit; fwd=uri-miss; detail=too-large"},
		{"streamed", false, "gatekit; fwd=uri-miss; stored"}, // decided before the size is known
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{MaxObjectSize: 64}, func(w http.ResponseWriter, r *http.Request, n int64) {
				w.Header().Set("Cache-Control", "max-age=60")
				if tc.length {
					w.Header().Set("Content-Length", "100")
				}
				for i := 0; i < 100; i += 10 {
					io.WriteString(w, big[i:i+10])
					w.(http.Flusher).Flush()
				}
			})
			rec := f.do("GET", "http://example.com/big")
			if rec.Body.String() != big || ourStatus(rec.Header()) != tc.status {
				t.Fatalf("first: %d bytes, %q", rec.Body.Len(), ourStatus(rec.Header()))
			}
			rec = f.do("GET", "http://example.com/big")
			if rec.Body.String() != big || isHit(ourStatus(rec.Header())) || f.store.Len() != 0 {
				t.Fatalf("second: %d bytes, %q, %d stored: want a miss", rec.Body.Len(), ourStatus(rec.Header()), f.store.Len())
			}
		})
	}
}

// TestStreamingThroughMiddleware checks that the first event of a stream
// reaches the client before the stream ends, both for a response being
// stored and for one passed through, and that ResponseController works.
func TestStreamingThroughMiddleware(t *testing.T) {
	for _, cc := range []string{"max-age=60", "no-store"} {
		t.Run(cc, func(t *testing.T) {
			c, err := New(NewMemoryStore(0, nil), Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			next := make(chan struct{})
			upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", cc)
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: first\n\n")
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush through ResponseController: %v", err)
				}
				if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
					t.Errorf("SetWriteDeadline through Unwrap: %v", err)
				}
				<-next
				io.WriteString(w, "data: second\n\n")
			})
			srv := httptest.NewServer(Middleware(c)(upstream))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			line, err := br.ReadString('\n')
			if err != nil || line != "data: first\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			close(next)
			rest, _ := io.ReadAll(br)
			if string(rest) != "\ndata: second\n\n" {
				t.Fatalf("rest %q", rest)
			}
		})
	}
}

func TestRistrettoStore(t *testing.T) {
	s, err := NewRistrettoStore(1<<20, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &Entry{Variants: []*Response{{Status: 200, Body: []byte("hello")}}}
	s.Set(ctx, "k", e, time.Minute)
	s.Wait()
	if got, ok := s.Get(ctx, "k"); !ok || got != e {
		t.Fatalf("Get after Set+Wait = %v, %v", got, ok)
	}
	s.Delete(ctx, "k")
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("Get after Delete hit")
	}
	// Bounded in bytes with our own cost: 100 entries of ~10 KiB fit in 1 MiB
	// (ristretto's internal cost would not shrink the bound). Admission of a
	// new key is not guaranteed, so only the total is checked.
	body := make([]byte, 10<<10)
	for i := range 300 {
		s.Set(ctx, fmt.Sprint("big", i), &Entry{Variants: []*Response{{Body: body}}}, time.Minute)
	}
	s.Wait()
	held := 0
	for i := range 300 {
		if _, ok := s.Get(ctx, fmt.Sprint("big", i)); ok {
			held++
		}
	}
	if held > 100 {
		t.Fatalf("held %d entries of 10 KiB in 1 MiB", held)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s.Set(ctx, "k", e, time.Minute)
	if _, ok := s.Get(ctx, "k"); ok {
		t.Fatal("Get after Close hit")
	}
	if _, err := NewRistrettoStore(-1, 0); err == nil {
		t.Fatal("NewRistrettoStore(-1) succeeded")
	}
}

// TestRistrettoConcurrentClose is LIBRARIES trap 3: Set, Get and Delete
// from many goroutines while Close runs must not panic or leak.
func TestRistrettoConcurrentClose(t *testing.T) {
	for range 5 {
		s, err := NewRistrettoStore(1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		e := &Entry{Variants: []*Response{{Status: 200, Body: []byte("x")}}}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 8 {
			wg.Go(func() {
				<-start
				for i := range 500 {
					k := fmt.Sprint(g, i%50)
					s.Set(ctx, k, e, time.Minute)
					s.Get(ctx, k)
					if i%7 == 0 {
						s.Delete(ctx, k)
					}
				}
			})
		}
		close(start)
		s.Close()
		wg.Wait()
	}
}

func TestDefaultStoreAndClose(t *testing.T) {
	c, err := New(nil, Config{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "x")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	c.store.(*RistrettoStore).Wait()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !isHit(ourStatus(rec.Header())) {
		t.Fatalf("second request: %q, want a hit", ourStatus(rec.Header()))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if ourStatus(rec.Header()) != "gatekit; fwd=bypass; detail=closed" || rec.Body.String() != "x" {
		t.Fatalf("after Close: %q %q", ourStatus(rec.Header()), rec.Body)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{MaxBytes: -1}, {MaxObjectSize: -1}, {MaxRevalidations: -1}, {StaleRetention: -1},
		{StaleWhileRevalidate: -time.Second}, {RevalidateTimeout: -1}, {Name: "a b"}, {Name: `x"`},
	} {
		if c, err := New(NewMemoryStore(0, nil), cfg); err == nil {
			c.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestEntryMarshalRoundTrip(t *testing.T) {
	e := &Entry{Variants: []*Response{{Status: 203, Header: http.Header{"A": {"1", "2"}}, Body: []byte("b"),
		Vary: []string{"Accept"}, VaryValues: "x", Tags: []string{"t"}, ResponseTime: t0, Lifetime: time.Minute, StaleIfError: -1}}}
	data, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Entry
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	v := got.Variants[0]
	if v.Status != 203 || string(v.Body) != "b" || v.Header.Get("A") != "1" || cap(v.Header["A"]) != 2 || !v.ResponseTime.Equal(t0) ||
		v.Lifetime != time.Minute || v.StaleIfError != -1 || v.VaryValues != "x" || v.Tags[0] != "t" {
		t.Fatalf("round trip: %+v", v)
	}
	if err := got.UnmarshalBinary([]byte("garbage")); err == nil {
		t.Fatal("UnmarshalBinary(garbage) succeeded")
	}
}

func TestMaxKeys(t *testing.T) {
	f := newFixture(t, Config{MaxKeys: 3}, headers("Cache-Control", "max-age=600", "Surrogate-Key", "all"))
	for i := range 5 {
		f.get(fmt.Sprintf("http://example.com/%d", i))
	}
	if n := f.store.Len(); n != 3 {
		t.Fatalf("store holds %d entries, want MaxKeys 3", n)
	}
	if n := f.c.PurgeTag(context.Background(), "all"); n != 3 {
		t.Fatalf("PurgeTag removed %d, want 3", n)
	}
	if n := f.store.Len(); n != 0 {
		t.Fatalf("store holds %d entries after purging every indexed key", n)
	}
	// A key the store lost is forgotten by the index on the next miss.
	f.get("http://example.com/x")
	f.store.Delete(context.Background(), "GET http://example.com/x")
	f.get("http://example.com/x", "Cache-Control", "no-store") // a miss that stores nothing
	if f.c.Purge(context.Background(), "GET http://example.com/x") {
		t.Fatal("the index still held a key its store had lost")
	}
}

// TestInformationalResponses checks that a 103 Early Hints from upstream
// reaches the client before the final response, which is still stored.
func TestInformationalResponses(t *testing.T) {
	c, err := New(NewMemoryStore(0, nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "page")
	})))
	defer srv.Close()
	var hints []int
	for i := range 2 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req = req.WithContext(httptraceContext(req.Context(), &hints))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "page" || resp.Header.Get("Link") != "" {
			t.Fatalf("request %d: %q Link %q", i, body, resp.Header.Get("Link"))
		}
		if i == 1 && !isHit(resp.Header.Get("Cache-Status")) {
			t.Fatalf("second request: %q, want a hit", resp.Header.Get("Cache-Status"))
		}
	}
	if len(hints) != 1 || hints[0] != 103 {
		t.Fatalf("informational responses seen: %v, want one 103 (from the miss only)", hints)
	}
}

func httptraceContext(ctx context.Context, codes *[]int) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			*codes = append(*codes, code)
			return nil
		},
	})
}
