package surge

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Webhook header names. SignatureHeader carries "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<unix seconds>.<body>" under the secret>" (see
// VerifySignature); DeliveryHeader a random ID that is the same on every
// attempt to deliver one event, for the receiver to drop repeats.
const (
	SignatureHeader = "Gatekit-Signature"
	DeliveryHeader  = "Gatekit-Delivery"
)

// Webhook defaults.
const (
	DefaultWebhookTimeout     = 5 * time.Second        // WebhookConfig.Timeout
	DefaultWebhookAttempts    = 4                      // WebhookConfig.MaxAttempts
	DefaultWebhookBackoff     = 500 * time.Millisecond // WebhookConfig.Backoff
	DefaultWebhookMaxBackoff  = 10 * time.Second       // WebhookConfig.MaxBackoff
	DefaultWebhookMaxPending  = 64                     // WebhookConfig.MaxPending
	DefaultSignatureTolerance = 5 * time.Minute        // VerifySignature's tolerance
)

// MinSecretLen is the shortest Webhook secret accepted, in bytes.
const MinSecretLen = 16

// WebhookConfig configures a Webhook. The zero value of each field
// selects the default documented on it; Secret has no default.
type WebhookConfig struct {
	// Secret is the HMAC-SHA256 key each delivery is signed with. At least
	// MinSecretLen (16) bytes; required. It is copied.
	Secret []byte
	// Timeout bounds each attempt. Zero means DefaultWebhookTimeout (5s).
	Timeout time.Duration
	// MaxAttempts is how many times one event is tried. Zero means
	// DefaultWebhookAttempts (4). Network errors, 408, 429 and 5xx answers
	// are retried; other answers outside 2xx are not.
	MaxAttempts int
	// Backoff is the wait before the second attempt, doubling for each
	// further one up to MaxBackoff, each wait drawn at random between half
	// and all of it. Zero means DefaultWebhookBackoff (500ms) and
	// DefaultWebhookMaxBackoff (10s).
	Backoff, MaxBackoff time.Duration
	// MaxPending bounds the events waiting for delivery; when full, the
	// oldest is dropped (Stats.Dropped). Zero means
	// DefaultWebhookMaxPending (64).
	MaxPending int
	// Client sends the requests. If nil, a client of the Webhook's own
	// that follows no redirects (a signed event goes only where it was
	// configured to) and whose idle connections Close closes.
	Client *http.Client
	// Logger, if not nil, logs each event given up on, at Warn.
	Logger *slog.Logger
}

// Webhook delivers surge events as signed JSON POSTs to one URL, from a
// goroutine of its own: Notify only queues, so a receiver that is down or
// slow never slows the caller (a Detector's hook, a request). Events are
// delivered one at a time, in order. Webhook is safe for concurrent use;
// Close stops it.
type Webhook struct {
	url     string
	cfg     WebhookConfig
	client  *http.Client
	ownedTr *http.Transport // closed by Close when the client is ours

	// mu guards pending.
	mu      sync.Mutex
	pending []pendingEvent
	wake    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	delivered, failed, dropped atomic.Uint64
}

type pendingEvent struct {
	id string
	ev Event
}

// WebhookStats counts a Webhook's deliveries.
type WebhookStats struct {
	// Delivered counts events a receiver accepted (2xx); Failed those given
	// up on after MaxAttempts or a non-retryable answer; Dropped those
	// pushed out of a full queue or left pending at Close.
	Delivered, Failed, Dropped uint64
	// Pending is the number of events waiting.
	Pending int
}

// NewWebhook returns a Webhook posting to rawURL (http or https) and
// starts its delivery goroutine; Close stops it. It returns an error for
// an invalid URL or configuration.
func NewWebhook(rawURL string, cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("surge: webhook URL %q must be an absolute http or https URL", rawURL)
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("surge: webhook secret must be at least %d bytes", MinSecretLen)
	}
	if cfg.Timeout < 0 || cfg.MaxAttempts < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxPending < 0 {
		return nil, errors.New("surge: webhook settings must not be negative")
	}
	c := cfg
	c.Secret = bytes.Clone(cfg.Secret)
	c.Timeout = cmp.Or(c.Timeout, DefaultWebhookTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultWebhookAttempts)
	c.Backoff = cmp.Or(c.Backoff, DefaultWebhookBackoff)
	c.MaxBackoff = cmp.Or(c.MaxBackoff, DefaultWebhookMaxBackoff)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultWebhookMaxPending)
	w := &Webhook{url: u.String(), cfg: c, client: c.Client, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if w.client == nil {
		w.ownedTr = http.DefaultTransport.(*http.Transport).Clone()
		w.client = &http.Client{Transport: w.ownedTr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.loop()
	return w, nil
}

// Notify queues ev for delivery and returns at once. It suits
// DetectorConfig.OnEvent directly. After Close it drops ev.
func (w *Webhook) Notify(ev Event) {
	id := newDeliveryID()
	w.mu.Lock()
	if w.ctx.Err() != nil {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	if len(w.pending) >= w.cfg.MaxPending {
		copy(w.pending, w.pending[1:])
		w.pending = w.pending[:len(w.pending)-1]
		w.dropped.Add(1)
	}
	w.pending = append(w.pending, pendingEvent{id: id, ev: ev})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func newDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Stats returns the delivery counters.
func (w *Webhook) Stats() WebhookStats {
	w.mu.Lock()
	n := len(w.pending)
	w.mu.Unlock()
	return WebhookStats{Delivered: w.delivered.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load(), Pending: n}
}

// Close stops delivery, abandoning an attempt in progress and the pending
// events (counted as Dropped), and waits for the goroutine to return. It
// is idempotent and returns nil.
func (w *Webhook) Close() error {
	w.once.Do(func() {
		w.mu.Lock()
		w.cancel()
		w.mu.Unlock()
		<-w.done
		w.mu.Lock()
		w.dropped.Add(uint64(len(w.pending)))
		w.pending = nil
		w.mu.Unlock()
		if w.ownedTr != nil {
			w.ownedTr.CloseIdleConnections()
		}
	})
	return nil
}

func (w *Webhook) loop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		var p pendingEvent
		ok := len(w.pending) > 0
		if ok {
			p = w.pending[0]
			w.pending = w.pending[1:]
		}
		w.mu.Unlock()
		if !ok {
			select {
			case <-w.ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		if err := w.deliver(p); err != nil {
			if w.ctx.Err() != nil {
				w.dropped.Add(1)
				return
			}
			w.failed.Add(1)
			if w.cfg.Logger != nil {
				w.cfg.Logger.Warn("surge: webhook delivery failed", "event", p.ev.Kind.String(), "delivery", p.id, "err", err)
			}
			continue
		}
		w.delivered.Add(1)
	}
}

// deliver tries to post one event, retrying with backoff.
func (w *Webhook) deliver(p pendingEvent) error {
	body, err := json.Marshal(p.ev)
	if err != nil {
		return err
	}
	wait := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(p.id, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.cfg.MaxAttempts {
			return err
		}
		d := wait/2 + mrand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return w.ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, w.cfg.MaxBackoff)
	}
}

// post makes one attempt; retry reports whether another may succeed.
func (w *Webhook) post(id string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(DeliveryHeader, id)
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body, time.Now()))
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return true, fmt.Errorf("surge: webhook answered %d", c)
	default:
		return false, fmt.Errorf("surge: webhook answered %d", c)
	}
}

// Sign returns the SignatureHeader value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<unix seconds>.<body>">".
// Signing the time lets a receiver refuse old deliveries replayed.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// ErrBadSignature is returned by VerifySignature for a missing, malformed,
// wrong or expired signature.
var ErrBadSignature = errors.New("surge: bad webhook signature")

// VerifySignature checks a SignatureHeader value for body, as a receiver
// does: the HMAC must match under secret (compared in constant time) and
// its time must be within tolerance of now (zero means
// DefaultSignatureTolerance, 5m). It returns nil or an error wrapping
// ErrBadSignature.
func VerifySignature(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	tolerance = cmp.Or(tolerance, DefaultSignatureTolerance)
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no time", ErrBadSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: outside the time tolerance", ErrBadSignature)
	}
	return nil
}
