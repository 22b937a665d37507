package surge

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

var secret = []byte("0123456789abcdef-test-secret")

// receiver is a webhook endpoint answering with the next status of
// statuses (200 once they run out) and recording what it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	ids      []string
	sigErrs  []error
	got      chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	rc.ids = append(rc.ids, r.Header.Get(DeliveryHeader))
	rc.sigErrs = append(rc.sigErrs, VerifySignature(secret, body, r.Header.Get(SignatureHeader), time.Now(), 0))
	status := 200
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
	rc.got <- struct{}{}
}

// waitStats polls w until cond holds.
func waitStats(t *testing.T, w *Webhook, cond func(WebhookStats) bool) WebhookStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st := w.Stats(); ; st = w.Stats() {
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook Stats() = %+v: condition not reached", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWebhookDelivery(t *testing.T) {
	for _, tc := range []struct {
		name              string
		statuses          []int
		attempts          int
		delivered, failed uint64
	}{
		{"accepted at once", nil, 1, 1, 0},
		{"retried after 503 and a timeout answer", []int{503, 408}, 3, 1, 0},
		{"given up after MaxAttempts", []int{500, 500, 500, 500}, 3, 0, 1},
		{"a 400 is not retried", []int{400}, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{statuses: tc.statuses, got: make(chan struct{}, 10)}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			w, err := NewWebhook(srv.URL, WebhookConfig{Secret: secret, Backoff: time.Millisecond, MaxAttempts: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ev := Event{Kind: Started, At: t0, Since: t0, Signals: Signals{ShortRate: 100, Pressure: 2}}
			w.Notify(ev)
			st := waitStats(t, w, func(s WebhookStats) bool { return s.Delivered+s.Failed == 1 })
			if st.Delivered != tc.delivered || st.Failed != tc.failed {
				t.Errorf("Stats() = %+v, want %d delivered, %d failed", st, tc.delivered, tc.failed)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.bodies) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(rc.bodies), tc.attempts)
			}
			for i := range rc.bodies {
				var got Event
				if err := json.Unmarshal(rc.bodies[i], &got); err != nil || got.Kind != Started || got.Signals != ev.Signals {
					t.Errorf("attempt %d posted %s (%v), want the event", i, rc.bodies[i], err)
				}
				if rc.sigErrs[i] != nil {
					t.Errorf("attempt %d: signature: %v", i, rc.sigErrs[i])
				}
				if rc.ids[i] == "" || rc.ids[i] != rc.ids[0] {
					t.Errorf("attempt %d delivery ID %q, want %q on every attempt", i, rc.ids[i], rc.ids[0])
				}
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"event":"surge started"}`)
	good := Sign(secret, body, t0)
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		now    time.Time
		ok     bool
	}{
		{"valid", secret, body, good, t0.Add(time.Minute), true},
		{"other secret", []byte("another-secret-of-16"), body, good, t0, false},
		{"altered body", secret, []byte(`{"event":"surge ended"}`), good, t0, false},
		{"replayed later", secret, body, good, t0.Add(time.Hour), false},
		{"no header", secret, body, "", t0, false},
		{"garbage", secret, body, "t=x,v1=zz", t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.body, tc.header, tc.now, 0)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadSignature)) {
				t.Fatalf("VerifySignature = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNewWebhookRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		url string
		cfg WebhookConfig
	}{
		{"http://127.0.0.1:1/hook", WebhookConfig{}},
		{"http://127.0.0.1:1/hook", WebhookConfig{Secret: []byte("short")}},
		{"ftp://127.0.0.1/hook", WebhookConfig{Secret: secret}},
		{"/relative", WebhookConfig{Secret: secret}},
		{"http://127.0.0.1:1/hook", WebhookConfig{Secret: secret, MaxAttempts: -1}},
	} {
		if w, err := NewWebhook(tc.url, tc.cfg); err == nil {
			w.Close()
			t.Errorf("NewWebhook(%q, %+v) = nil error, want one", tc.url, tc.cfg)
		}
	}
}

// TestDownWebhookReceiverDoesNotSlowRequests points a webhook at a
// receiver that accepts connections and never answers, and one at a port
// nobody listens on. Notify must return at once every time (the test
// would hang otherwise), requests through the middleware must all complete
// while the receiver is still stuck, and the events beyond MaxPending are
// dropped, oldest first, rather than queued without bound.
func TestDownWebhookReceiverDoesNotSlowRequests(t *testing.T) {
	stuck := make(chan struct{})
	reached := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-stuck
	}))
	defer hang.Close()
	defer close(stuck)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/hook"
	ln.Close()

	for _, url := range []string{hang.URL, refused} {
		w, err := NewWebhook(url, WebhookConfig{Secret: secret, MaxPending: 4, Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		l := mustLimiter(t, LimiterConfig{InitialLimit: 1, MinLimit: 1, MaxLimit: 1, MaxQueue: -1})
		det, _ := NewDetector(l, DetectorConfig{OnEvent: w.Notify, StartAfter: time.Nanosecond})
		h := Middleware(l, MiddlewareConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		now := t0
		det.EvaluateAt(now)
		codes := map[int]int{}
		for i := range 50 {
			// A request held in flight makes the next one shed: a
			// surge the detector reports through the webhook.
			held, _ := l.TryAcquire()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			codes[rec.Code]++
			held.Release(Ignored)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			codes[rec.Code]++
			now = now.Add(time.Second)
			det.EvaluateAt(now)
			if i%5 == 0 {
				w.Notify(Event{Kind: Sustained, At: now, Since: t0})
			}
		}
		if codes[503] != 50 || codes[200] != 50 {
			t.Errorf("%s: status counts %v, want 50 shed and 50 served", url, codes)
		}
		if url == hang.URL {
			<-reached // the receiver holds a delivery while we check
		}
		st := w.Stats()
		if st.Pending > 4 || st.Delivered != 0 {
			t.Errorf("%s: webhook Stats() = %+v, want at most 4 pending, none delivered", url, st)
		}
		w.Close()
		ds := det.Stats()
		notified := ds.Started + ds.Sustained + ds.Ended + 10
		if st := w.Stats(); st.Pending != 0 || st.Delivered != 0 || st.Failed+st.Dropped != notified {
			t.Errorf("%s: after Close, Stats() = %+v, want nothing pending or delivered and all %d events failed or dropped", url, st, notified)
		}
		if det.Stats().Started != 1 {
			t.Errorf("%s: %d surges started, want 1", url, det.Stats().Started)
		}
	}
}

// FuzzVerifySignature feeds VerifySignature arbitrary headers and bodies:
// it must never panic, must accept a header Sign made for the same body
// and time, and must reject that header for any other body.
func FuzzVerifySignature(f *testing.F) {
	f.Add([]byte(`{"event":"surge started"}`), "t=1767322800,v1=00", []byte("x"))
	f.Add([]byte{}, "", []byte{})
	f.Add([]byte("body"), "v1=zz,t=-1,t=2", []byte("other"))
	f.Fuzz(func(t *testing.T, body []byte, header string, other []byte) {
		_ = VerifySignature(secret, body, header, t0, 0)
		good := Sign(secret, body, t0)
		if err := VerifySignature(secret, body, good, t0, 0); err != nil {
			t.Fatalf("VerifySignature(Sign(%q)) = %v", body, err)
		}
		if string(other) != string(body) {
			if err := VerifySignature(secret, other, good, t0, 0); err == nil {
				t.Fatalf("the signature of %q verified %q", body, other)
			}
		}
	})
}
