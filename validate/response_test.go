package validate

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompressedResponseNotValidated(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, `{"status":"ok"}`)
	_ = zw.Close()
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
		skipped        uint64
	}{
		{"gzip valid", "gzip", gz.Bytes(), 200, 1},
		{"gzip with identity", "identity, gzip", gz.Bytes(), 200, 1},
		{"identity invalid", "identity", []byte(`{"status":"on fire"}`), 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newShop(t, Config{Responses: ResponseReject})
			h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", tc.encoding)
				_, _ = w.Write(tc.body)
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %q", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 && !bytes.Equal(rec.Body.Bytes(), tc.body) {
				t.Errorf("body changed: %q", rec.Body)
			}
			if s := v.Stats(); s.SkippedResponses != tc.skipped {
				t.Errorf("SkippedResponses = %d, want %d", s.SkippedResponses, tc.skipped)
			}
		})
	}
}

func TestResponseValidation(t *testing.T) {
	bad := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "1")
		_, _ = io.WriteString(w, `{"status":"on fire"}`)
	})
	good := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	tests := []struct {
		name    string
		mode    ResponseMode
		h       http.Handler
		status  int
		logged  bool
		backend string
	}{
		{"off", ResponseOff, bad, 200, false, "1"},
		{"log", ResponseLog, bad, 200, true, "1"},
		{"reject", ResponseReject, bad, 502, true, ""},
		{"reject passes valid", ResponseReject, good, 200, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			v := newShop(t, Config{Responses: tc.mode, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			rec := httptest.NewRecorder()
			Middleware(v)(tc.h).ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if got := logs.Len() > 0; got != tc.logged {
				t.Errorf("logged = %v, want %v: %s", got, tc.logged, logs.String())
			}
			if rec.Header().Get("X-Backend") != tc.backend {
				t.Errorf("X-Backend = %q, want %q", rec.Header().Get("X-Backend"), tc.backend)
			}
			if tc.status == 502 {
				decodeProblem(t, rec)
			}
		})
	}
}

func TestResponseValidationStreamsLargeAndFlushed(t *testing.T) {
	v := newShop(t, Config{Responses: ResponseReject, MaxResponseBytes: 8})
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"not a valid status at all"}`)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "not a valid") {
		t.Fatalf("large response: %d %q, want streamed unvalidated", rec.Code, rec.Body)
	}
	v = newShop(t, Config{Responses: ResponseReject})
	h = Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: 1\n\n")
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "data: 2\n\n")
	}))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req{method: "GET", target: "/health", noKey: true}.build())
	if !rec.Flushed || rec.Body.String() != "data: 1\n\ndata: 2\n\n" {
		t.Fatalf("flushed=%v body %q", rec.Flushed, rec.Body)
	}
}

const spec31Responses = `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /r:
    get:
      responses:
        "200":
          description: ok
          headers:
            X-Count: {schema: {type: integer, nullable: true}}
          content:
            application/json:
              schema:
                type: object
                required: [kind]
                properties:
                  kind: {const: cat}
                  secret: {type: string, writeOnly: true}
        "201":
          description: created
          content:
            application/json:
              schema: {type: object, properties: {n: {type: integer, nullable: true}}}
`

// TestResponses31CompileNothingPerResponse: with response validation on,
// the responses of a 3.1 document are judged as 3.1 means them (const
// applies, a writeOnly property must not be sent, "nullable" has no
// effect) by validators compiled at load: no schema is serialised again
// however many responses are validated.
func TestResponses31CompileNothingPerResponse(t *testing.T) {
	cases := []struct {
		name, count, body string
		status, want      int
	}{
		{"valid", "3", `{"kind":"cat"}`, 200, 200},
		{"const broken", "3", `{"kind":"dog"}`, 200, 502},
		{"writeOnly sent", "3", `{"kind":"cat","secret":"s"}`, 200, 502},
		{"header of the wrong type", "x", `{"kind":"cat"}`, 200, 502},
		{"nullable has no effect in 3.1", "", `{"n":null}`, 201, 502},
		{"valid 201", "", `{"n":1}`, 201, 201},
		{"data after the JSON value", "3", `{"kind":"cat"} {"kind":"dog"}`, 200, 502},
		{"duplicate key", "3", `{"kind":"cat","kind":"dog"}`, 200, 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, mc := countSchemaMarshals(t, spec31Responses, Config{Responses: ResponseReject})
			h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.count != "" {
					w.Header().Set("X-Count", tc.count)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			before := mc.n.Load()
			for range 3 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/r", nil))
				if rec.Code != tc.want {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
				}
			}
			if n := mc.n.Load() - before; n != 0 {
				t.Errorf("%d schema serialisations for 3 responses, want 0", n)
			}
		})
	}
}
