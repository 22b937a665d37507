package gatekit

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/route"
)

func TestRecoverAnswers500WithoutPanicText(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Half", "set")
		panic("boom: secret internal detail")
	})}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if rec.Header().Get("X-Half") != "" {
		t.Errorf("header set before the panic survived into the 500: %v", rec.Header())
	}
	if rec.Header().Get(RequestIDHeader) == "" {
		t.Errorf("500 lost its request ID")
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("panic text leaked to the client: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret internal detail") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestRecoverAbortsStartedResponse(t *testing.T) {
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A chunked response: ending the handler normally would end it
		// cleanly with a last chunk, so only an abort makes the read fail.
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic("mid-body")
	})}}, Config{})
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v (headers were flushed, so they should arrive)", err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Fatalf("ContentLength = %d, want a chunked response", resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("half-written response %q read to a clean end; want an aborted connection", body)
	}
}
