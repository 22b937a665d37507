package cache

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOuterHeadersKept: header fields an outer middleware set before the
// cache (a CORS layer's Vary: Origin, a session cookie) survive on misses,
// hits and passes: list fields are merged, not replaced.
func TestOuterHeadersKept(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Add("Vary", "Accept-Encoding")
		if r.URL.Path == "/login" {
			w.Header().Add("Vary", "Origin") // already set by the outer layer: not repeated
			w.Header().Set("Set-Cookie", "sid=1")
		}
		io.WriteString(w, "x")
	})
	outer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Set-Cookie", "outer=1")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		f.h.ServeHTTP(w, r)
	})
	for i, tc := range []struct {
		path    string
		vary    []string
		cookies []string
	}{
		{"/", []string{"Origin", "Accept-Encoding"}, []string{"outer=1"}},               // miss, stored
		{"/", []string{"Origin", "Accept-Encoding"}, []string{"outer=1"}},               // hit
		{"/login", []string{"Origin", "Accept-Encoding"}, []string{"outer=1", "sid=1"}}, // not stored
	} {
		rec := httptest.NewRecorder()
		outer.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com"+tc.path, nil))
		h := rec.Header()
		if !slices.Equal(h.Values("Vary"), tc.vary) || !slices.Equal(h.Values("Set-Cookie"), tc.cookies) || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("request %d %s (%s): Vary %q Set-Cookie %q ACAO %q, want Vary %q Set-Cookie %q ACAO *",
				i, tc.path, ourStatus(h), h.Values("Vary"), h.Values("Set-Cookie"), h.Get("Access-Control-Allow-Origin"), tc.vary, tc.cookies)
		}
	}
}

func TestLargeResponsesStreamUnstored(t *testing.T) {
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
