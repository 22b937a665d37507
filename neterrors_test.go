package gatekit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestNetHTTPOwnErrorsBecomeProblemJSON(t *testing.T) {
	backend := newRecordingBackend(t)
	srv := newGatewayServer(t, backend, ServerConfig{MaxHeaderBytes: 4 << 10})
	tests := []struct {
		name, req string
		status    int
		detail    string
	}{
		{"NUL in a header name", "GET / HTTP/1.1\r\nHost: x\r\nX\x00: 1\r\n\r\n", 400, ""},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"unsupported version", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "unsupported protocol version"},
		{"headers over twice the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, closed := rawExchange(t, srv.addr, tc.req)
			r := parseResponses(t, resp)[0]
			var body map[string]any
			if r.StatusCode != tc.status || r.Header.Get("Content-Type") != "application/problem+json" || !closed {
				t.Fatalf("response %q closed %v, want %d problem+json and a closed connection", resp, closed, tc.status)
			}
			b := resp[strings.Index(resp, "\r\n\r\n")+4:]
			if err := json.Unmarshal([]byte(b), &body); err != nil || body["status"] != float64(tc.status) || (body["detail"] != nil && body["detail"] != tc.detail) || (body["detail"] == nil && tc.detail != "") {
				t.Errorf("body %q (%v), want status %d detail %q", b, err, tc.status, tc.detail)
			}
		})
	}
	if got := backend.received(); got != "" {
		t.Errorf("backend received %q", got)
	}
}

func TestHandlerResponsesAreNotRewritten(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil // the one thing that could make it look like net/http's own error
		w.Header().Set("Connection", "close")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(400)
		_, _ = io.WriteString(w, "400 Bad Request")
	}), ServerConfig{})
	resp, _ := rawExchange(t, srv.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := parseResponses(t, resp)[0]; r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("a handler's own 400 was rewritten: %q", resp)
	}
}

// FuzzProblemForNetHTTPError checks that the rewrite never panics and that
// whatever it produces is one well-formed problem+json response with the
// status it was given.
func FuzzProblemForNetHTTPError(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request"))
	f.Add([]byte("HTTP/1.1 400 Bad Request: missing required Host header" + netHTTPErrorHeaders + "400 Bad Request: missing required Host header"))
	f.Add([]byte("HTTP/1.1 501 Not Implemented" + netHTTPErrorHeaders + "Unsupported transfer encoding"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nDate: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < 12 || !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
			return
		}
		out, ok := problemForNetHTTPError(p)
		if !ok {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("rewrite of %q is not a response: %v\n%q", p, err, out)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || !json.Valid(body) || resp.Header.Get("Content-Type") != "application/problem+json" || !resp.Close {
			t.Fatalf("rewrite of %q: %q, %v", p, out, err)
		}
		if code, _ := strconv.Atoi(string(p[9:12])); resp.StatusCode != code {
			t.Fatalf("rewrite of %q has status %d", p, resp.StatusCode)
		}
	})
}

// A response body is never rewritten, even when one write of it to the
// connection looks exactly like net/http's own error response: a body
// that changed length would desynchronise the client's reading of every
// later response on the connection.
func TestResponseBodyThatLooksLikeANetHTTPErrorIsNotRewritten(t *testing.T) {
	const lookalike = "HTTP/1.1 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request"
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(lookalike)))
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush() // the body goes out in a write of its own
		_, _ = io.WriteString(w, lookalike)
	}), ServerConfig{})
	resp, _ := rawExchange(t, srv.addr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	rs := parseResponses(t, resp)
	if len(rs) != 2 || !strings.HasSuffix(resp, lookalike) || strings.Count(resp, lookalike) != 2 {
		t.Errorf("responses %q, want two 200s each with the body as written", resp)
	}
}
