package validate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestServersIndependence(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		target string
		status int
	}{
		{"spec base path at another host", Config{}, "http://gateway.internal/v1/categories", 200},
		{"prefix stripped by the gateway", Config{}, "http://gateway.internal/categories", 200},
		{"second server with variable default", Config{}, "/api/v1/categories", 200},
		{"base path alone is not a path", Config{}, "/v1", 404},
		{"partial segment is not a prefix", Config{}, "/v1categories", 404},
		{"explicit base paths replace servers", Config{BasePaths: []string{"/shop/"}}, "/shop/categories", 200},
		{"explicit base paths drop spec ones", Config{BasePaths: []string{"/shop"}}, "/v1/categories", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newShop(t, tc.cfg)
			rec := httptest.NewRecorder()
			Middleware(v)(&echo{}).ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
			if rec.Code != tc.status {
				t.Fatalf("GET %s = %d, want %d", tc.target, rec.Code, tc.status)
			}
		})
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

func TestEncodedPathParams(t *testing.T) {
	v := newShop(t, Config{})
	var got string
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RawPath
		if got == "" {
			got = r.URL.Path
		}
	}))
	// %2D is "-": the decoded slug is valid; the backend sees the original escaping.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/categories/home%2Dgarden", nil))
	if rec.Code != 200 || got != "/categories/home%2Dgarden" {
		t.Fatalf("status %d, backend path %q", rec.Code, got)
	}
	// An encoded slash stays inside the segment and fails the pattern.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/categories/a%2Fb", nil))
	if rec.Code != 400 {
		t.Fatalf("encoded slash: status %d, want 400", rec.Code)
	}
}

func TestMaxErrorsAndBoundedReasons(t *testing.T) {
	v := newShop(t, Config{MaxErrors: 2})
	long := strings.Repeat("é", 5000)
	r := req{method: "POST", target: "/customers", ct: jsonCT,
		body: `{"firstName":"` + long + `","lastName":"` + long + `","email":"` + long + `","birthDate":"` + long + `"}`}.build()
	rec := httptest.NewRecorder()
	Middleware(v)(&echo{}).ServeHTTP(rec, r)
	p := decodeProblem(t, rec)
	if rec.Code != 400 || len(p.Errors) != 2 || p.Omitted < 1 {
		t.Fatalf("status %d, %d errors, %d omitted; want 400, 2, >=1", rec.Code, len(p.Errors), p.Omitted)
	}
	if rec.Body.Len() > 2000 || strings.Contains(rec.Body.String(), "éééé") {
		t.Fatalf("answer echoes client input (%d bytes): %s", rec.Body.Len(), rec.Body)
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

func TestWriteErrorNonValidationError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest("GET", "/", nil), errors.New("secret internal detail"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
}
