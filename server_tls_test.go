package gatekit

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	gatetls "github.com/gatekit/gatekit/tls"
)

// TestServerTerminatesTLSWithHTTP2 serves a handler through Server with a
// TLSConfig from the tls package: clients get HTTP/2 when they offer it and
// HTTP/1.1 otherwise, TLS 1.1 is refused, and shutdown is graceful.
func TestServerTerminatesTLSWithHTTP2(t *testing.T) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	edge, err := gatetls.NewEdge(ca.GetCertificate, gatetls.EdgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), ServerConfig{TLSConfig: edge.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	url := "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/"

	tests := []struct {
		name      string
		conf      *tls.Config
		http2     bool
		wantProto string // "" means the handshake is refused
	}{
		{"HTTP/2 client", &tls.Config{RootCAs: ca.Pool()}, true, "HTTP/2.0"},
		{"HTTP/1.1 client", &tls.Config{RootCAs: ca.Pool()}, false, "HTTP/1.1"},
		{"TLS 1.1 client", &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: tc.conf, ForceAttemptHTTP2: tc.http2}
			if !tc.http2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
			if tc.wantProto == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("a TLS 1.1 client was served")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.Proto != tc.wantProto || string(body) != tc.wantProto {
				t.Fatalf("response %s, handler saw %q; want %s", resp.Proto, body, tc.wantProto)
			}
		})
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
}
