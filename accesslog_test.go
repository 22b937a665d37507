package gatekit

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestAccessLogSamplingAndMinDurationKeepErrors checks the filters: with
// MinDuration above every request's duration, or a Sample that draws
// (practically) nothing, successful requests go unlogged while 5xx
// answers and clients that went away are always logged.
func TestAccessLogSamplingAndMinDurationKeepErrors(t *testing.T) {
	for _, cfg := range []AccessLogConfig{{MinDuration: time.Hour}, {Sample: math.SmallestNonzeroFloat64}} {
		var logs bytes.Buffer
		mw, err := AccessLog(slog.New(slog.NewJSONHandler(&logs, nil)), cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fail" {
				w.WriteHeader(http.StatusBadGateway)
			}
		}))
		for range 100 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ok", nil))
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/fail", nil))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/gone", nil).WithContext(ctx))
		got := logs.String()
		if n := strings.Count(got, "\n"); n != 2 || !strings.Contains(got, `"status":502`) || !strings.Contains(got, `"status":499`) {
			t.Errorf("%+v: logged %d records, want only the 502 and the 499:\n%s", cfg, n, got)
		}
	}
}

// TestAccessLogRejectsConfigItWouldIgnore checks the errors: a Sample
// outside 0 to 1, a negative MinDuration, and any setting without a logger
// (a nil logger disables the middleware, so the setting would do nothing).
func TestAccessLogRejectsConfigItWouldIgnore(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		log *slog.Logger
		cfg AccessLogConfig
	}{
		{log, AccessLogConfig{Sample: 1.5}},
		{log, AccessLogConfig{Sample: -0.1}},
		{log, AccessLogConfig{MinDuration: -time.Second}},
		{nil, AccessLogConfig{Sample: 0.1}},
		{nil, AccessLogConfig{MinDuration: time.Second}},
	} {
		if _, err := AccessLog(tc.log, tc.cfg); err == nil {
			t.Errorf("AccessLog(logger %v, %+v) succeeded", tc.log != nil, tc.cfg)
		}
	}
	if _, err := New(nil, Config{AccessLog: AccessLogConfig{Sample: 0.5}}); err == nil {
		t.Error("New accepted an AccessLog setting without a Logger")
	}
	if mw, err := AccessLog(nil, AccessLogConfig{}); err != nil || mw(http.NotFoundHandler()) == nil {
		t.Errorf("AccessLog(nil, zero) = %v, want a pass-through", err)
	}
}
