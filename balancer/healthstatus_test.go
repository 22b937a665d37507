package balancer

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthStatusesHandler(t *testing.T) {
	p, ts := fakePool(t, 2)
	hc := newChecker(t, p, HealthConfig{Fall: 1})
	hc.ReportAt(ts[1], errors.New("status 500 outside 200-399"), t0)
	rec := httptest.NewRecorder()
	hc.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	var got []TargetHealth
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Healthy || got[1].Healthy || got[1].Failures != 1 || got[1].LastError == "" {
		t.Fatalf("statuses %+v", got)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// TestHealthAPIRedactsPasswords: the health API names targets by URL
// without the password of their userinfo.
func TestHealthAPIRedactsPasswords(t *testing.T) {
	p := poolOf(t, "http://user:s3cret@10.0.0.1:80")
	hc := newChecker(t, p, HealthConfig{})
	for _, init := range []bool{false, true} {
		if init {
			hc.Init()
		}
		rec := httptest.NewRecorder()
		hc.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		st := hc.Statuses()
		if strings.Contains(rec.Body.String(), "s3cret") || len(st) != 1 || strings.Contains(st[0].Target, "s3cret") {
			t.Fatalf("initialised %v: health API exposes the password: %s", init, rec.Body.String())
		}
	}
}
