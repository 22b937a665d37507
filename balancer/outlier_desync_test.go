package balancer

import (
	"bufio"

	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"

func TestOutlierFramer(t *testing.T) {
	cases := []struct {
		name   string
		method string
		resp   string // one response
		extra  string // bytes after it
		opaque bool
		bad    bool
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", evil, false, false},
		{"zero length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", evil, false, false},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n", evil, false, false},
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n", evil, false, false},
		{"TE wins over CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", evil, false, false},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", evil, false, false},
		{"204 has no body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "hello", false, false},
		{"304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", evil, false, false},
		{"interim 100 then 200", "POST", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"bare LF headers", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", evil, false, false},
		{"HTTP/1.0 ignores TE", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"duplicate equal CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"101 is a tunnel", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "frames", true, false},
		{"no length: until close", "GET", "HTTP/1.1 200 OK\r\n\r\n", "anything", true, false},
		{"two different CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "", false, true},
		{"gzip, chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "", false, true},
		{"two TE lines", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "", false, true},
		{"bare LF chunk line", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n", "", false, true},
		{"bad chunk size", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", false, true},
		{"bad CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n", "", false, true},
		{"not HTTP", "GET", "SSH-2.0-OpenSSH\r\n", "", false, true},
	}
	for _, tc := range cases {
		for _, step := range []int{0, 1, 3} { // 0: all at once
			t.Run(fmt.Sprintf("%s/step%d", tc.name, step), func(t *testing.T) {
				in := []byte(tc.resp + tc.extra)
				var f framer
				f.start(tc.method)
				used, err := feedSteps(&f, in, step)
				if tc.bad {
					if err == nil {
						t.Fatalf("framer accepted %q", tc.resp)
					}
					return
				}
				if err != nil {
					t.Fatalf("framer error %v", err)
				}
				if !f.done || f.opaque != tc.opaque {
					t.Fatalf("done=%v opaque=%v, want done, opaque=%v", f.done, f.opaque, tc.opaque)
				}
				if !tc.opaque && used != len(tc.resp) {
					t.Fatalf("response ends at %d, want %d", used, len(tc.resp))
				}
			})
		}
	}
}

// feedSteps feeds in to f in pieces of step bytes (all at once for 0) and
// returns the bytes used until the response ended.
func feedSteps(f *framer, in []byte, step int) (int, error) {
	if step == 0 {
		step = len(in)
	}
	used := 0
	for used < len(in) && !f.done {
		end := min(used+step, len(in))
		k, err := f.feed(in[used:end])
		used += k
		if err != nil {
			return used, err
		}
		if f.opaque {
			break
		}
	}
	return used, nil
}

// FuzzOutlierFramer checks the framer against net/http's own reading of a
// response: when both accept it and it has a known end, they must agree
// on where it ends (or a guard could mistake a body for extra bytes, or
// the reverse).
func FuzzOutlierFramer(f *testing.F) {
	f.Add("GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"+evil)
	f.Add("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nA: b\r\n\r\n"+evil)
	f.Add("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")
	f.Add("GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nxx")
	f.Add("GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nab")
	f.Add("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, method, raw string) {
		if method != "HEAD" {
			method = "GET"
		}
		var fr framer
		fr.start(method)
		used, ferr := feedSteps(&fr, []byte(raw), 7)
		goUsed, goOK := netHTTPConsumed(method, raw)
		if ferr != nil || !fr.done || fr.opaque || !goOK {
			return
		}
		if used != goUsed {
			t.Fatalf("framer ends the response at %d, net/http at %d: %q", used, goUsed, raw)
		}
	})
}

// netHTTPConsumed reads one final response from raw as the Transport
// does (skipping 1xx) and returns the bytes consumed; ok is false if
// net/http rejects it or its end is the connection's end.
func netHTTPConsumed(method, raw string) (int, bool) {
	r := strings.NewReader(raw)
	br := bufio.NewReader(r)
	req, _ := http.NewRequest(method, "http://x/", nil)
	for range 5 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return 0, false
		}
		if resp.StatusCode == 101 {
			return 0, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		if resp.Close || (resp.ContentLength < 0 && len(resp.TransferEncoding) == 0) {
			return 0, false
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, false
		}
		return len(raw) - r.Len() - br.Buffered(), true
	}
	return 0, false
}

// splittingBackend answers /bad with a valid response followed by a whole
// second response nobody asked for (two variants), and /good plainly;
// every body echoes the request's id. It counts Connection: close requests.
func splittingBackend(t testing.TB, closes *atomic.Int64) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if req.Close {
				closes.Add(1)
			}
			id := req.URL.Query().Get("id")
			var resp string
			switch req.URL.Path {
			case "/bad-cl":
				body := "bad:" + id
				resp = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + evil
			case "/bad-te":
				body := "bad:" + id
				resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" +
					strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n" + evil
			default:
				body := "good:" + id
				resp = "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			}
			if _, err := c.Write([]byte(resp)); err != nil || req.Close {
				return
			}
		}
	})
}

func TestS2ExtraBytesNeverReachAnotherClient(t *testing.T) {
	const clients = 32
	for _, tc := range []struct {
		quarantine time.Duration
		perClient  int
	}{
		// Without quarantine every bad response leaves a reusable-looking
		// connection behind: the synchronous guard alone must stop the
		// extra bytes. 3 200 requests, 1 600 of them good.
		{-1, 100},
		// With quarantine (the default) the backend gets fresh connections
		// after its first desync.
		{0, 20},
	} {
		quarantine, perClient := tc.quarantine, tc.perClient
		if testing.Short() {
			perClient = min(perClient, 30)
		}
		t.Run(fmt.Sprintf("quarantine=%v", quarantine), func(t *testing.T) {
			var closes atomic.Int64
			be := splittingBackend(t, &closes)
			px := newTestProxy(t, NewRoundRobin(poolOf(t, be)),
				Config{TransportConfig: TransportConfig{DesyncQuarantine: quarantine}, Retry: RetryConfig{Retries: -1}})
			checkBaseline := baseline(t)
			var wrong, good atomic.Int64
			var firstWrong atomic.Value
			var wg sync.WaitGroup
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					bad := "/bad-cl"
					if c%2 == 1 {
						bad = "/bad-te"
					}
					for i := range perClient {
						id := fmt.Sprintf("%d-%d", c, i)
						path, want := "/good", "good:"+id
						if i%2 == 0 {
							path, want = bad, "bad:"+id
						}
						rec := serve(px, httptest.NewRequest("GET", path+"?id="+id, nil))
						if rec.Code == 200 && rec.Body.String() == want {
							if path == "/good" {
								good.Add(1)
							}
							continue
						}
						if rec.Code == http.StatusBadGateway && path != "/good" {
							continue // a bad backend may fail its own request
						}
						wrong.Add(1)
						firstWrong.CompareAndSwap(nil, fmt.Sprintf("%s got %d %q", path+"?id="+id, rec.Code, rec.Body.String()))
					}
				}()
			}
			wg.Wait()
			if n := wrong.Load(); n != 0 {
				t.Fatalf("%d responses delivered to the wrong request (first: %v)", n, firstWrong.Load())
			}
			if good.Load() != int64(clients*perClient/2) {
				t.Fatalf("%d good responses, want %d", good.Load(), clients*perClient/2)
			}
			if px.Desyncs() == 0 {
				t.Fatal("no desync detected: the test did not exercise the guard")
			}
			tg := px.policy.(*RoundRobin).pool.Targets()[0]
			if quarantined := px.Quarantined(tg); quarantined != (quarantine == 0) {
				t.Fatalf("Quarantined = %v with DesyncQuarantine %v", quarantined, quarantine)
			}
			if quarantine == 0 && closes.Load() == 0 {
				t.Fatal("a quarantined backend still got reused connections (no Connection: close)")
			}
			px.Close()
			checkBaseline() // discarded connections are closed, not leaked
		})
	}
}

func TestS2DesyncCountsAsFailure(t *testing.T) {
	var closes atomic.Int64
	be := splittingBackend(t, &closes)
	rp := &recorder{Policy: NewRoundRobin(poolOf(t, be))}
	px := newTestProxy(t, rp, Config{})
	rec := serve(px, httptest.NewRequest("GET", "/bad-cl?id=1", nil))
	if rec.Code != 200 || rec.Body.String() != "bad:1" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
	if r := rp.last(t); !r.Failed() {
		t.Fatalf("done(%+v): a desynced response must count against the target", r)
	}
	rec = serve(px, httptest.NewRequest("GET", "/good?id=2", nil))
	if rec.Body.String() != "good:2" {
		t.Fatalf("next request got %q", rec.Body.String())
	}
}

func TestS2TLSUpstreams(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "proto=%d", r.ProtoMajor)
			}))
			be.EnableHTTP2 = h2
			be.StartTLS()
			defer be.Close()
			roots := x509.NewCertPool()
			roots.AddCert(be.Certificate())
			px := newTestProxy(t, NewRoundRobin(poolOf(t, be.URL)),
				Config{TransportConfig: TransportConfig{TLSClientConfig: &tls.Config{RootCAs: roots}}})
			want := "proto=1"
			if h2 {
				want = "proto=2"
			}
			for range 3 {
				rec := serve(px, httptest.NewRequest("GET", "/", nil))
				if rec.Code != 200 || rec.Body.String() != want {
					t.Fatalf("got %d %q, want %q", rec.Code, rec.Body.String(), want)
				}
			}
		})
	}
}
