package gatekit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/route"
)

func TestAccessLogRecordsRequest(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Path: "/hello", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		_, _ = io.WriteString(w, "hello")
	})}}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), NewRequestID: func() string { return "rid" }})
	req := httptest.NewRequest("POST", "http://example.test/hello", nil)
	req.RemoteAddr = "192.0.2.9:5555"
	g.ServeHTTP(httptest.NewRecorder(), req)
	var rec map[string]any
	if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	want := map[string]any{"msg": "request", "method": "POST", "host": "example.test", "path": "/hello",
		"status": 201.0, "bytes_out": 5.0, "bytes_in": 0.0, "client": "192.0.2.9", "request_id": "rid", "proto": "HTTP/1.1"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("log field %s = %v, want %v", k, rec[k], v)
		}
	}
	if _, ok := rec["duration"]; !ok {
		t.Error("log has no duration")
	}
}

func TestAccessLogRecordsGoneClientAs499(t *testing.T) {
	var logs bytes.Buffer
	g := newGateway(t, []route.Rule{{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}},
		Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	if !strings.Contains(logs.String(), `"status":499`) {
		t.Errorf("cancelled request not logged as 499: %s", logs.String())
	}
}

func TestNilLoggerIsSilent(t *testing.T) {
	g := newGateway(t, []route.Rule{{Handler: http.NotFoundHandler()}}, Config{})
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestAccessLogNamesRouteAndSplitBackend(t *testing.T) {
	var logs bytes.Buffer
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	g := newGateway(t, []route.Rule{
		{Name: "search", Path: "/search", Split: []route.Backend{{Name: "stable", Weight: 1, Handler: ok}, {Name: "canary", Weight: 0, Handler: ok}}},
		{Name: "plain", Path: "/plain", Handler: ok},
	}, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, tc := range []struct{ path, route, backend string }{
		{"/search", "search", "stable"},
		{"/plain", "plain", ""},
		{"/none", "", ""},
	} {
		logs.Reset()
		g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path, nil))
		var rec map[string]any
		if err := json.Unmarshal(logs.Bytes(), &rec); err != nil {
			t.Fatalf("log %q: %v", logs.String(), err)
		}
		got, _ := rec["route"].(string)
		backend, _ := rec["backend"].(string)
		if got != tc.route || backend != tc.backend {
			t.Errorf("%s: logged route %q backend %q, want %q %q", tc.path, got, backend, tc.route, tc.backend)
		}
	}
}
