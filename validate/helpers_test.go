package validate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testAuth accepts the API key "secret" and the bearer token "good";
// the API key "readonly" is authenticated but forbidden.
func testAuth(ctx context.Context, in *AuthInput) error {
	switch in.Scheme.Type {
	case "apiKey":
		switch in.Request.Header.Get(in.Scheme.Name) {
		case "secret":
			return nil
		case "readonly":
			return ErrForbidden
		}
	case "http":
		if in.Request.Header.Get("Authorization") == "Bearer good" {
			return nil
		}
	}
	return errors.New("bad credentials")
}

func newShop(t testing.TB, cfg Config) *Validator {
	t.Helper()
	if cfg.Authenticate == nil && !cfg.SkipSecurity {
		cfg.Authenticate = testAuth
	}
	v, err := LoadFile("testdata/shop.yaml", cfg)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	return v
}

// req describes a test request.
type req struct {
	method, target string
	ct, body       string
	header         map[string]string
	noKey          bool
}

func (q req) build() *http.Request {
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, q.target, body)
	if q.ct != "" {
		r.Header.Set("Content-Type", q.ct)
	}
	if !q.noKey {
		r.Header.Set("X-API-Key", "secret")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	return r
}

// problemBody is a decoded problem+json answer.
type problemBody struct {
	Status  int          `json:"status"`
	Title   string       `json:"title"`
	Detail  string       `json:"detail"`
	Errors  []FieldError `json:"errors"`
	Omitted int          `json:"omittedErrors"`
}

func decodeProblem(t testing.TB, rec *httptest.ResponseRecorder) problemBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	return p
}
