package tls

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHSTSOnlyOverTLS(t *testing.T) {
	tests := []struct {
		name    string
		cfg     HSTSConfig
		tls     bool
		want    string
		wantErr bool
	}{
		{"defaults", HSTSConfig{}, true, "max-age=63072000; includeSubDomains", false},
		{"plain HTTP gets none", HSTSConfig{}, false, "", false},
		{"one day, this host only", HSTSConfig{MaxAge: 24 * time.Hour, ExcludeSubDomains: true}, true, "max-age=86400", false},
		{"preload", HSTSConfig{Preload: true}, true, "max-age=63072000; includeSubDomains; preload", false},
		{"preload without subdomains", HSTSConfig{Preload: true, ExcludeSubDomains: true}, true, "", true},
		{"preload too short", HSTSConfig{Preload: true, MaxAge: time.Hour}, true, "", true},
		{"negative", HSTSConfig{MaxAge: -time.Second}, true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := HSTS(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("HSTS error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			r := httptest.NewRequest("GET", "https://a.test/", nil)
			if !tc.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
			if got := rec.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Fatalf("Strict-Transport-Security = %q, want %q", got, tc.want)
			}
		})
	}
}

func BenchmarkHSTS(b *testing.B) {
	mw, err := HSTS(HSTSConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "https://a.test/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
