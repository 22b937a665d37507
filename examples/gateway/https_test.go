package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPSDemoServesHTTP2 starts the demo's HTTPS listener and fetches a
// page over HTTP/2, trusting only the development CA it wrote to disk.
func TestHTTPSDemoServesHTTP2(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
	d, err := startHTTPS(ctx, "127.0.0.1:0", h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.ca.Pool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	url := "https://localhost:" + strings.TrimPrefix(d.addr.String(), "127.0.0.1:") + "/"
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || string(body) != "hello" || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("%s %q HSTS %q, want HTTP/2.0 \"hello\" with HSTS", resp.Proto, body, resp.Header.Get("Strict-Transport-Security"))
	}
	tr.CloseIdleConnections()
	cancel()
	if err := d.wait(); err != nil {
		t.Fatal(err)
	}
}
