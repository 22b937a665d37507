package validate

import (
	"context"
	"net/http/httptest"
	"testing"
)

func TestAuthenticatePanicRecovered(t *testing.T) {
	v := newShop(t, Config{Authenticate: func(context.Context, *AuthInput) error { panic("boom") }})
	rec := httptest.NewRecorder()
	Middleware(v)(&echo{}).ServeHTTP(rec, req{method: "GET", target: "/products"}.build())
	if rec.Code != 401 {
		t.Fatalf("status %d, want 401", rec.Code)
	}
}
