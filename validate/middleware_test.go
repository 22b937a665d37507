package validate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

// echo is a next handler that records the body and Content-Length it got.
type echo struct {
	calls  int
	body   []byte
	cl     int64
	replay []byte
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.calls++
	e.body, _ = io.ReadAll(r.Body)
	e.cl = r.ContentLength
	e.replay = nil
	if r.GetBody != nil {
		if rc, err := r.GetBody(); err == nil {
			e.replay, _ = io.ReadAll(rc)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func TestBodyPassthroughByteForByte(t *testing.T) {
	// Odd spacing, key order, escapes and number forms a re-encoder would change.
	body := "{ \"title\" : \"caf\\u00e9 \\/ ok\",\n\t\"rating\":5.0e0 }  "
	for _, inject := range []bool{false, true} {
		v := newShop(t, Config{InjectDefaults: inject})
		e := &echo{}
		authBody := ""
		v.cfg.Authenticate = func(ctx context.Context, in *AuthInput) error {
			authBody = string(in.Body)
			return testAuth(ctx, in)
		}
		r := req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: body}.build()
		rec := httptest.NewRecorder()
		Middleware(v)(e).ServeHTTP(rec, r)
		if rec.Code != 200 || e.calls != 1 {
			t.Fatalf("inject=%v: status %d calls %d body %s", inject, rec.Code, e.calls, rec.Body)
		}
		if string(e.body) != body || string(e.replay) != body || e.cl != int64(len(body)) {
			t.Errorf("inject=%v: backend got %q (GetBody %q, ContentLength %d), want the original %q", inject, e.body, e.replay, e.cl, body)
		}
		if authBody != body {
			t.Errorf("Authenticate saw body %q", authBody)
		}
	}
}

func TestInjectDefaults(t *testing.T) {
	body := `{"name":"x","price":{"amount":1,"currency":"USD"},"category":"books"}`
	off := &echo{}
	rec0 := httptest.NewRecorder()
	Middleware(newShop(t, Config{}))(off).ServeHTTP(rec0, req{method: "POST", target: "/products", ct: jsonCT, body: body}.build())
	if rec0.Code != 200 || string(off.body) != body {
		t.Fatalf("defaults off: status %d, backend got %q, want the original bytes", rec0.Code, off.body)
	}
	v := newShop(t, Config{InjectDefaults: true})
	e := &echo{}
	r := req{method: "POST", target: "/products", ct: jsonCT, body: body}.build()
	rec := httptest.NewRecorder()
	Middleware(v)(e).ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if !bytes.Contains(e.body, []byte(`"stock":0`)) || e.cl != int64(len(e.body)) || !bytes.Equal(e.body, e.replay) {
		t.Fatalf("backend got %q (ContentLength %d), want the default stock injected", e.body, e.cl)
	}
}

// countingReader serves an endless body and counts the bytes read.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '['
	}
	c.n += int64(len(p))
	return len(p), nil
}

func (c *countingReader) Close() error { return nil }

func TestSizeCapWithoutReadingWholeBody(t *testing.T) {
	const limit = 4096
	v := newShop(t, Config{MaxBodyBytes: limit})
	e := &echo{}
	h := Middleware(v)(e)

	// Chunked (unknown length) endless body: read at most limit+1 bytes.
	cr := &countingReader{}
	r := req{method: "POST", target: "/products", ct: jsonCT}.build()
	r.Body, r.ContentLength = cr, -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge || e.calls != 0 {
		t.Fatalf("status %d calls %d, want 413 and no call", rec.Code, e.calls)
	}
	if cr.n > limit+1 {
		t.Fatalf("read %d bytes of an over-limit body, want at most %d", cr.n, limit+1)
	}
	decodeProblem(t, rec)

	// Declared Content-Length over the limit: nothing is read.
	cr = &countingReader{}
	r = req{method: "POST", target: "/products", ct: jsonCT}.build()
	r.Body, r.ContentLength = cr, 10<<20
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge || cr.n != 0 {
		t.Fatalf("status %d after reading %d bytes, want 413 after 0", rec.Code, cr.n)
	}

	// A body exactly at the limit is read and validated (400: not JSON).
	r = req{method: "POST", target: "/products", ct: jsonCT, body: strings.Repeat(" ", limit)}.build()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("at-limit body: status %d, want 400", rec.Code)
	}

	// An outer http.MaxBytesReader is reported as 413 too.
	r = req{method: "POST", target: "/products", ct: jsonCT, body: strings.Repeat(" ", 100)}.build()
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 10)
	r.ContentLength = -1
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("MaxBytesReader: status %d, want 413", rec.Code)
	}
}

func TestPassThroughUnknown(t *testing.T) {
	v := newShop(t, Config{PassThroughUnknown: true})
	e := &echo{}
	h := Middleware(v)(e)
	for _, q := range []req{
		{method: "GET", target: "/not/in/spec", noKey: true},
		{method: "TRACE", target: "/products", noKey: true},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, q.build())
		if rec.Code != 200 {
			t.Errorf("%s %s = %d, want pass-through", q.method, q.target, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req{method: "GET", target: "/products?limit=0"}.build())
	if rec.Code != 400 {
		t.Errorf("known operation still validated: got %d", rec.Code)
	}
}

func TestCustomErrorHandler(t *testing.T) {
	var got error
	v := newShop(t, Config{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(422)
	}})
	rec := httptest.NewRecorder()
	Middleware(v)(&echo{}).ServeHTTP(rec, req{method: "GET", target: "/products?limit=0"}.build())
	var e *Error
	if rec.Code != 422 || !errors.As(got, &e) || e.Fields[0].Name != "limit" {
		t.Fatalf("status %d err %v", rec.Code, got)
	}
}

// trackedBody is a request body that records whether it was read.
type trackedBody struct {
	io.Reader
	read bool
}

func (b *trackedBody) Read(p []byte) (int, error) { b.read = true; return b.Reader.Read(p) }

func (b *trackedBody) Close() error { return nil }

func TestUnmatchedPassUntouched(t *testing.T) {
	v := rulesValidator(t, Config{MaxBodyBytes: 1024})
	var got io.ReadCloser
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Body })
	h := Middleware(v)(next)
	big := strings.Repeat("x", 4096)
	body := &trackedBody{Reader: strings.NewReader(big)}
	r := multi("POST", "/stream", "", "Content-Type", "application/octet-stream")
	r.Body, r.ContentLength = body, -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 || got != body || body.read {
		t.Fatalf("status %d, backend body is the original: %v, read by the middleware: %v", rec.Code, got == body, body.read)
	}
	if _, err := v.ValidateRequest(r, []byte(big)); err != nil {
		t.Errorf("ValidateRequest of an unmatched request: %v", err)
	}
	// A matched path keeps the caps.
	r = multi("POST", "/upload", big, "Content-Type", "application/json")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("matched rule: status %d, want 413", rec.Code)
	}
}

var _ http.Handler = (*echo)(nil)

// TestNextHandlerGetsCanonicalPath: the next handler sees the path in the
// canonical form it was validated in, whichever spelling the client used,
// on validated, passed-through and rule-free requests alike.
func TestNextHandlerGetsCanonicalPath(t *testing.T) {
	for _, cfg := range []Config{{}, {PassThroughUnknown: true}} {
		v := newShop(t, cfg)
		var raw, path string
		h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, path = r.URL.EscapedPath(), r.URL.Path
		}))
		for _, tc := range []struct{ target, raw, path string }{
			{"/categories/home%2Dgarden", "/categories/home-garden", "/categories/home-garden"},
			{"/c%61tegories/books", "/categories/books", "/categories/books"},
			{"/categories/h%6fme", "/categories/home", "/categories/home"},
		} {
			raw, path = "", ""
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req{method: "GET", target: tc.target}.build())
			if rec.Code != 200 {
				t.Fatalf("GET %s = %d: %s", tc.target, rec.Code, rec.Body)
			}
			if raw != tc.raw || path != tc.path {
				t.Errorf("GET %s: next handler got %q (%q), want %q (%q)", tc.target, raw, path, tc.raw, tc.path)
			}
		}
		if cfg.PassThroughUnknown {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req{method: "GET", target: "/not-in-the-sp%65c"}.build())
			if rec.Code != 200 || raw != "/not-in-the-spec" {
				t.Errorf("pass-through: %d, next handler got %q, want the canonical path", rec.Code, raw)
			}
		}
	}
}

type infoWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoWriter) RequestInfo() *reqinfo.Info { return &w.info }

// TestMiddlewareTellsTheAccessLogWhy checks that a rejection's reason
// reaches the writer of an access log around the validator.
func TestMiddlewareTellsTheAccessLogWhy(t *testing.T) {
	v, err := Load([]byte(`openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /items/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses: {"200": {description: ok}}
`), Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for path, want := range map[string]string{"/items/1": "", "/items/x": "invalid", "/nope": "unknown"} {
		w := &infoWriter{ResponseWriter: httptest.NewRecorder()}
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.info.Invalid != want {
			t.Errorf("GET %s recorded %q, want %q", path, w.info.Invalid, want)
		}
	}
}
