package proxy

import (
	"bufio"

	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

const evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"

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

func TestStrayBytesNeverReachAnotherClient(t *testing.T) {
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
			pool := poolOf(t, be)
			px := newTestProxy(t, balancer.NewRoundRobin(pool),
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
			if px.Stats().Desyncs == 0 {
				t.Fatal("no desync detected: the test did not exercise the guard")
			}
			tg := pool.Targets()[0]
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

func TestStrayBytesCountAsTargetFailure(t *testing.T) {
	var closes atomic.Int64
	be := splittingBackend(t, &closes)
	rp := &recorder{Policy: balancer.NewRoundRobin(poolOf(t, be))}
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

func TestStrayBytesCaughtOnTLSUpstreams(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "proto=%d", r.ProtoMajor)
			}))
			be.EnableHTTP2 = h2
			be.StartTLS()
			defer be.Close()
			px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be.URL)), Config{TransportConfig: trusting(be)})
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
