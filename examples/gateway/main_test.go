package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDemo runs the demo gateway in front of its demo backends and checks
// that requests are answered by the backends in turn.
func TestDemo(t *testing.T) {
	bs, err := startBackends(3)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackends(bs)
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.ln.Addr().String())
	}
	g, closeGateway, err := newGateway(strings.Join(addrs, ","), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeGateway()
	srv := httptest.NewServer(g)
	defer srv.Close()

	seen := map[string]int{}
	for range 6 {
		resp, err := http.Get(srv.URL + "/hello")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Backend   string `json:"backend"`
			RequestID string `json:"request_id"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /hello: %d %s", resp.StatusCode, b)
		}
		if body.RequestID == "" || body.RequestID != resp.Header.Get("X-Request-ID") {
			t.Errorf("request ID upstream %q, response %q", body.RequestID, resp.Header.Get("X-Request-ID"))
		}
		seen[body.Backend]++
	}
	for _, b := range bs {
		if seen[b.name] != 2 {
			t.Errorf("backend %s answered %d of 6, want 2 (%v)", b.name, seen[b.name], seen)
		}
	}
}
