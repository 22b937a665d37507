package surge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

func TestMiddlewareShedsWithProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry time.Duration
		want  string
	}{
		{"default", 0, "1"},
		{"rounded up", 2500 * time.Millisecond, "3"},
		{"never 0", time.Millisecond, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1, RetryAfter: tc.retry})
			reached := false
			h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
			held, _ := l.TryAcquire()
			defer held.Release(Success)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if reached || rec.Code != 503 || rec.Header().Get("Retry-After") != tc.want ||
				rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("shed: reached=%v %d Retry-After %q Content-Type %q, want 503, %q, problem+json",
					reached, rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"), tc.want)
			}
			var p struct{ Status int }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != 503 {
				t.Errorf("body %q: %v", rec.Body, err)
			}
		})
	}
}

func TestMiddlewareExemptIsNeverShed(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	h := Middleware(l, MiddlewareConfig{Priority: func(r *http.Request) Priority {
		if r.URL.Path == "/healthz" {
			return Exempt
		}
		return Normal
	}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	for path, want := range map[string]int{"/healthz": 200, "/api": 503} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
}

// TestMiddlewareClassifiesOutcomes checks which answers count as drops:
// 5xx and panics do; 4xx, successes and requests whose client went away
// do not.
func TestMiddlewareClassifiesOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		cancel  bool
		panics  bool
		dropped uint64
	}{
		{"200", 200, false, false, 0},
		{"no status written", 0, false, false, 0},
		{"404", 404, false, false, 0},
		{"429", 429, false, false, 0},
		{"502 dropped connection", 502, false, false, 1},
		{"504 timeout", 504, false, false, 1},
		{"500", 500, false, false, 1},
		{"client went away", 502, true, false, 0},
		{"panic", 0, false, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{})
			h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.panics {
					panic(http.ErrAbortHandler)
				}
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
			}))
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			func() {
				defer func() {
					if v := recover(); (v != nil) != tc.panics {
						t.Errorf("recover() = %v, want a panic: %v", v, tc.panics)
					}
				}()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			}()
			if st := l.Stats(); st.Dropped != tc.dropped || st.InFlight != 0 {
				t.Errorf("Stats() = %+v, want %d dropped and the slot released", st, tc.dropped)
			}
		})
	}
}

func TestMiddlewareKeepsFlusherAndUnwrap(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{})
	var unwrapped http.ResponseWriter
	rec := httptest.NewRecorder()
	h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through the middleware: %v", err)
		}
		unwrapped = w.(interface{ Unwrap() http.ResponseWriter }).Unwrap()
	}))
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !rec.Flushed || unwrapped != rec {
		t.Errorf("Flushed=%v, Unwrap()=%T; want the recorder flushed and returned", rec.Flushed, unwrapped)
	}
}

func TestMiddlewareCustomErrorHandler(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
	var got error
	h := Middleware(l, MiddlewareConfig{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(429)
	}})(http.NotFoundHandler())
	held, _ := l.TryAcquire()
	defer held.Release(Success)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	var se *ShedError
	if rec.Code != 429 || !errors.As(got, &se) {
		t.Errorf("custom handler: %d, err %v; want 429 and a *ShedError", rec.Code, got)
	}
}

// TestMiddlewareFreesTheSlotOfAHijackedConnection hijacks the connection
// as a WebSocket upgrade does: the slot must be free while the tunnel is
// still open, and released only once.
func TestMiddlewareFreesTheSlotOfAHijackedConnection(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{})
	inFlight := make(chan int, 2)
	srv := httptest.NewServer(Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight <- l.InFlight()
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack through the middleware: %v", err)
			return
		}
		defer conn.Close()
		inFlight <- l.InFlight()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		brw.Flush()
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before, after := <-inFlight, <-inFlight
	if before != 1 || after != 0 {
		t.Errorf("in flight %d before the hijack and %d after, want 1 and 0", before, after)
	}
	srv.Close()
	if st := l.Stats(); st.InFlight != 0 {
		t.Errorf("after the handler returned: Stats() = %+v, want nothing in flight", st)
	}
}

// TestMiddlewareSamplesTimeToHeader streams a response that goes on well
// after its header: the latency sampled is the time to the header.
func TestMiddlewareSamplesTimeToHeader(t *testing.T) {
	const body = 100 * time.Millisecond
	l := mustLimiter(t, LimiterConfig{Window: time.Nanosecond})
	h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		time.Sleep(body) // the stream goes on after the header
		w.Write([]byte("tail"))
	}))
	start := time.Now()
	done := make(chan struct{})
	for range minSamples + 1 {
		go func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			done <- struct{}{}
		}()
	}
	for range minSamples + 1 {
		<-done
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) // closes the window
	if st := l.Stats(); st.Latency <= 0 || st.Latency >= body/2 {
		t.Errorf("sampled latency %v for responses lasting %v and more (the run took %v), want the time to the header", st.Latency, body, time.Since(start))
	}
}

func TestMiddlewareWithoutLimiterFailsClosed(t *testing.T) {
	reached := false
	h := Middleware(nil, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if reached || rec.Code != 500 {
		t.Errorf("nil limiter: reached=%v, %d; want 500 and the handler not reached", reached, rec.Code)
	}
}

// infoWriter collects the request's Info as the gateway's writer does.
type infoWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoWriter) RequestInfo() *reqinfo.Info { return &w.info }

// TestMiddlewareRecordsItsDecision checks what the access log learns:
// admitted at once, admitted after queueing, or shed.
func TestMiddlewareRecordsItsDecision(t *testing.T) {
	l := fixed(t, 1, 1, FIFO)
	h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	serve := func() *infoWriter {
		w := &infoWriter{ResponseWriter: httptest.NewRecorder()}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		return w
	}
	if got := serve().info.Shed; got != "admitted" {
		t.Errorf("a free slot: Shed = %q, want admitted", got)
	}
	held, _ := l.TryAcquire()
	queued := make(chan *infoWriter, 1)
	go func() { queued <- serve() }()
	waitQueued(t, l, 1)
	if got := serve().info.Shed; got != "shed" {
		t.Errorf("a full queue: Shed = %q, want shed", got)
	}
	held.Release(Success)
	if got := (<-queued).info.Shed; got != "queued" {
		t.Errorf("a wait in the queue: Shed = %q, want queued", got)
	}
}
