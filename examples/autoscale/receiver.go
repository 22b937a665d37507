package main

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatekit/gatekit/surge"
)

// receiver is the other end of a surge webhook: what a platform's
// scaling service runs. It believes only deliveries signed with the
// shared secret, drops repeated deliveries of one event, and calls
// scaleOut for the rest.
type receiver struct {
	hook *surge.Webhook
	srv  *http.Server
}

// startReceiver starts a receiver on loopback and a webhook posting to it,
// with a fresh random secret.
func startReceiver(scaleOut func(surge.Event, string)) (*receiver, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[string]bool{} // delivery IDs, guarded by mu (a retry may overlap a slow attempt)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := surge.VerifySignature(secret, body, r.Header.Get(surge.SignatureHeader), time.Now(), 0); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev surge.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		id := r.Header.Get(surge.DeliveryHeader)
		repeat := seen[id]
		seen[id] = true
		mu.Unlock()
		if !repeat {
			scaleOut(ev, " (webhook)")
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	hook, err := surge.NewWebhook("http://"+ln.Addr().String()+"/surge", surge.WebhookConfig{Secret: secret})
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &receiver{hook: hook, srv: srv}, nil
}

// Notify hands ev to the webhook; it returns at once.
func (rc *receiver) Notify(ev surge.Event) { rc.hook.Notify(ev) }

// Close stops the webhook, then the receiver.
func (rc *receiver) Close() {
	rc.hook.Close()
	rc.srv.Close()
}
