package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatekit/gatekit/balancer"
	"github.com/gatekit/gatekit/internal/reqinfo"
)

// h2 frame types and flags used by rawH2Backend.
const (
	h2Data, h2Headers, h2RST, h2Settings, h2GoAway = 0x0, 0x1, 0x3, 0x4, 0x7
	h2EndStream, h2Ack                             = 0x1, 0x1
	h2CodeProtocol, h2CodeRefused                  = 0x1, 0x7
)

// h2Fault is how rawH2Backend answers a request.
type h2Fault int

const (
	h2ResetAfterBody h2Fault = iota // read the whole request, then RST_STREAM PROTOCOL_ERROR
	h2Refuse                        // RST_STREAM REFUSED_STREAM on the HEADERS frame
	h2GoAwayBelow                   // GOAWAY with last stream ID 0 on the HEADERS frame
)

// rawH2Backend is a prior-knowledge h2c server that never answers: it
// fails every stream as fault says. processed counts requests it read in
// full (END_STREAM seen) before failing them; with h2Refuse and
// h2GoAwayBelow it stays 0, those faults being sent on the HEADERS frame.
func rawH2Backend(t *testing.T, fault h2Fault) (url string, processed *atomic.Int64) {
	processed = new(atomic.Int64)
	frame := func(c net.Conn, typ, flags byte, stream uint32, payload []byte) {
		h := make([]byte, 9, 9+len(payload))
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3], h[4] = typ, flags
		binary.BigEndian.PutUint32(h[5:], stream)
		c.Write(append(h, payload...))
	}
	url = rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		preface := make([]byte, len(http2Preface))
		if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2Preface {
			return
		}
		frame(c, h2Settings, 0, 0, nil)
		hdr := make([]byte, 9)
		for {
			if _, err := io.ReadFull(br, hdr); err != nil {
				return
			}
			n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
			typ, flags := hdr[3], hdr[4]
			stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return
			}
			switch {
			case typ == h2Settings && flags&h2Ack == 0:
				frame(c, h2Settings, h2Ack, 0, nil)
			case typ == h2Headers && fault == h2Refuse:
				frame(c, h2RST, 0, stream, binary.BigEndian.AppendUint32(nil, h2CodeRefused))
			case typ == h2Headers && fault == h2GoAwayBelow:
				frame(c, h2GoAway, 0, 0, binary.BigEndian.AppendUint32(make([]byte, 4), 0))
				return
			case fault == h2ResetAfterBody && (typ == h2Headers || typ == h2Data) && flags&h2EndStream != 0:
				processed.Add(1)
				frame(c, h2RST, 0, stream, binary.BigEndian.AppendUint32(nil, h2CodeProtocol))
			}
		}
	})
	return url, processed
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// newH2CFaultBackend is a faultBackend that also speaks prior-knowledge h2c.
func newH2CFaultBackend(t *testing.T, name string) *faultBackend {
	fb := &faultBackend{name: name, arrivals: map[string]int{}, bodies: map[string]string{}}
	fb.mode.Store(modeOK)
	fb.Server = httptest.NewUnstartedServer(http.HandlerFunc(fb.serve))
	fb.Config.Protocols = new(http.Protocols)
	fb.Config.Protocols.SetHTTP1(true)
	fb.Config.Protocols.SetUnencryptedHTTP2(true)
	fb.Start()
	t.Cleanup(fb.Close)
	return fb
}

// h2cTransport speaks only prior-knowledge h2c, so that the proxy's
// requests to http:// targets go over HTTP/2.
func h2cTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// TestH2ResetAfterBodyNeverResent: an HTTP/2 target reads a whole POST
// and resets the stream with PROTOCOL_ERROR. Go's HTTP/2 Transport would
// re-send a request whose body it can rewind; the request may have been
// processed, so the POST must not reach any other target (nor the same
// one twice). A GET is retried on the healthy target.
func TestH2ResetAfterBodyNeverResent(t *testing.T) {
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			bad, processed := rawH2Backend(t, h2ResetAfterBody)
			good := newH2CFaultBackend(t, "good")
			px := newTestProxy(t, &firstThen{pool: poolOf(t, bad, good.URL)},
				Config{Transport: h2cTransport(t), Retry: fastRetry(RetryConfig{})})
			var body io.Reader
			if method == "POST" {
				body = strings.NewReader("payload")
			}
			req := httptest.NewRequest(method, "/h2", body)
			req.Header.Set("X-Req-ID", "h2-1")
			rec := serve(px, req)
			switch method {
			case "POST":
				if n := processed.Load() + int64(good.count("h2-1")); n != 1 || rec.Code != http.StatusBadGateway {
					t.Fatalf("POST: status %d, arrivals %d at the resetting target and %d at the other: want 502 and exactly 1 arrival",
						rec.Code, processed.Load(), good.count("h2-1"))
				}
			case "GET":
				if rec.Code != 200 || good.count("h2-1") != 1 {
					t.Fatalf("GET: status %d, good arrivals %d: want a retry on the healthy target", rec.Code, good.count("h2-1"))
				}
				// The HTTP/2 Transport's own re-send was stopped (and counted).
				if n := px.Stats().TransportReSends; n != 1 {
					t.Fatalf("TransportReSends = %d, want 1", n)
				}
			}
		})
	}
}

// TestH2NeverProcessedIsRetried: REFUSED_STREAM and a GOAWAY below the request's stream prove the target did not
// process it, so even a POST goes to another target.
func TestH2NeverProcessedIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault h2Fault
	}{{"REFUSED_STREAM", h2Refuse}, {"GOAWAY below the stream", h2GoAwayBelow}} {
		t.Run(tc.name, func(t *testing.T) {
			bad, _ := rawH2Backend(t, tc.fault)
			good := newH2CFaultBackend(t, "good")
			px := newTestProxy(t, &firstThen{pool: poolOf(t, bad, good.URL)},
				Config{Transport: h2cTransport(t), Retry: fastRetry(RetryConfig{})})
			req := httptest.NewRequest("POST", "/h2", strings.NewReader("payload"))
			req.Header.Set("X-Req-ID", "h2-2")
			rec := serve(px, req)
			if rec.Code != 200 || good.count("h2-2") != 1 {
				t.Fatalf("status %d, good arrivals %d: want the POST retried once", rec.Code, good.count("h2-2"))
			}
		})
	}
}

// TestPostOnReusedConnClosedWithoutAnswer: a POST carrying Idempotency-Key
// on a route that did not opt in goes out on a reused keep-alive
// connection, and the target reads it and closes without answering.
// net/http's Transport deems such a request replayable; the POST must
// still arrive at most once, anywhere.
func TestPostOnReusedConnClosedWithoutAnswer(t *testing.T) {
	bad := newFaultBackend(t, "bad", modeOK)
	good := newFaultBackend(t, "good", modeOK)
	px := newTestProxy(t, &firstThen{pool: poolOf(t, bad.URL, good.URL)}, Config{Retry: fastRetry(RetryConfig{})})
	for i := range 2 { // one to each target: the connection to bad is idle now
		if rec := sendReq(px, "GET", "warm", ""); rec.Code != 200 {
			t.Fatalf("warm-up %d: status %d", i, rec.Code)
		}
	}
	bad.setMode(modeFIN)
	req := httptest.NewRequest("POST", "/", strings.NewReader("payload"))
	req.Header.Set("X-Req-ID", "post-1")
	req.Header.Set("Idempotency-Key", "k-1")
	rec := serve(px, req)
	if n := bad.count("post-1") + good.count("post-1"); n != 1 || rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d, arrivals %d at the closing target and %d at the other: want 502 and 1 arrival",
			rec.Code, bad.count("post-1"), good.count("post-1"))
	}
}

// TestNoRetryAfterEarlyHints: a target sends 103 Early Hints, which the
// proxy relays to the client, and then closes without a final response.
// A response byte reached the client: even a GET is not retried.
func TestNoRetryAfterEarlyHints(t *testing.T) {
	bad := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
	})
	good := newFaultBackend(t, "good", modeOK)
	px := newTestProxy(t, &firstThen{pool: poolOf(t, bad, good.URL)}, Config{Retry: fastRetry(RetryConfig{})})
	srv := httptest.NewServer(px)
	defer srv.Close()
	var hints atomic.Int32
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("X-Req-ID", "eh")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints.Add(1)
			}
			return nil
		},
	}))
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if hints.Load() != 1 || good.count("eh") != 0 || err == nil && resp.StatusCode == 200 {
		t.Fatalf("early hints seen %d, arrivals at the other target %d: want the hint relayed and no retry",
			hints.Load(), good.count("eh"))
	}
}

func TestRetryTransportReSendStoppedAndMovedToAnotherTarget(t *testing.T) {
	bad := newFaultBackend(t, "bad", modeOK)
	good := newFaultBackend(t, "good", modeOK)
	px := newTestProxy(t, &firstThen{pool: poolOf(t, bad.URL, good.URL)}, Config{Retry: fastRetry(RetryConfig{})})
	sendReq(px, "GET", "warm-bad", "")  // leaves an idle connection to bad
	sendReq(px, "GET", "warm-good", "") // to good
	bad.setMode(modeReset)              // bad now reads requests and resets
	rec := sendReq(px, "GET", "g", "")  // to bad, on the reused connection
	if rec.Code != 200 || rec.Body.String() != "good:g" {
		t.Fatalf("got %d %q, want the good backend's answer", rec.Code, rec.Body.String())
	}
	if b, g := bad.count("g"), good.count("g"); b != 1 || g != 1 {
		t.Fatalf("arrivals bad=%d good=%d, want 1 and 1: net/http's own re-send to the same target must be stopped", b, g)
	}
}

func TestRetryKeepAliveRaceWithLoneTarget(t *testing.T) {
	var arrivals atomic.Int64
	// Every connection answers one request, then reads the next and
	// closes without answering: a keep-alive race, every time.
	be := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			arrivals.Add(1)
			if i > 0 {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	budget := NewRetryBudget(0.2, 3)
	px := newTestProxy(t, balancer.NewRoundRobin(poolOf(t, be)), Config{Retry: fastRetry(RetryConfig{Budget: budget})})
	for i := range 5 {
		if rec := sendReq(px, "GET", reqID("k", i), ""); rec.Code != 200 {
			t.Fatalf("GET %d: status %d; a lone target's keep-alive race must be re-sent", i, rec.Code)
		}
	}
	if st := budget.Stats(); st.Requests != 0 || st.Retries != 0 {
		t.Fatalf("budget not released: %d active, %d retries", st.Requests, st.Retries)
	}
	if n := arrivals.Load(); n < 5 || n > 9 {
		t.Fatalf("%d arrivals for 5 GETs, want each sent at most twice", n)
	}
}

type infoWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoWriter) RequestInfo() *reqinfo.Info { return &w.info }

// TestRetryIsLoggedAndRecorded sends a GET whose first target refuses the
// connection: the retry is logged with the pool and both targets, counted
// in Stats, and the access log around the proxy learns the target that
// answered and the number of attempts.
func TestRetryIsLoggedAndRecorded(t *testing.T) {
	good := newBackend(t, "good")
	dead := deadURL(t)
	pool := poolOf(t, dead, good.URL)
	var buf bytes.Buffer
	var mu sync.Mutex
	fixed := &firstThen{pool: pool}
	px := newTestProxy(t, fixed, Config{Name: "api", Logger: slogTo(&buf, &mu)})
	w := &infoWriter{ResponseWriter: httptest.NewRecorder()}
	px.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if rec := w.ResponseWriter.(*httptest.ResponseRecorder); rec.Code != 200 || rec.Body.String() != "good" {
		t.Fatalf("response %d %q, want 200 from good", rec.Code, rec.Body)
	}
	if w.info.Target != good.URL || w.info.Attempts != 2 {
		t.Errorf("recorded target %q after %d attempts, want %s after 2", w.info.Target, w.info.Attempts, good.URL)
	}
	if got := px.Stats().Retries; got != 1 {
		t.Errorf("Stats().Retries = %d, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if !strings.Contains(log, `msg="proxy: retrying on another target" pool=api target=`+dead) || !strings.Contains(log, "next="+good.URL) {
		t.Errorf("the retry is not logged with the pool and both targets:\n%s", log)
	}
}

// TestRetryStartsFromTheCleanedInboundURL: a retry to another target
// sends the path (under the target's own base path) and the cleaned query
// the first attempt sent.
func TestRetryStartsFromTheCleanedInboundURL(t *testing.T) {
	var mu sync.Mutex
	var got []string
	record := func(status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.URL.Path+"?"+r.URL.RawQuery)
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	busy, good := record(http.StatusServiceUnavailable), record(http.StatusOK)
	px := newTestProxy(t, &firstThen{pool: poolOf(t, busy.URL+"/base", good.URL+"/base")}, Config{Retry: fastRetry(RetryConfig{})})
	rec := serve(px, httptest.NewRequest("GET", "/q/x?a=1&b=%zz", nil))
	want := []string{"/base/q/x?a=1", "/base/q/x?a=1"}
	if rec.Code != 200 || !slices.Equal(got, want) {
		t.Fatalf("status %d, the targets saw %q: want 200 and %q", rec.Code, got, want)
	}
}
