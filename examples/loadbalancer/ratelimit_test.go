package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRateFlags checks that bad rate-limiting flags are errors.
func TestRateFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "fast"},
		{"-rate", "10/s", "-rate-key", "bogus"},
		{"-rate", "10/s", "-rate-key", ""},
		{"-redis", "127.0.0.1:6379"},
		{"-rate", "10/s", "-redis", "127.0.0.1:6379", "-redis-mode", "sometimes"},
		{"-rate", "10/s", "-redis", "127.0.0.1:6379", "-instances", "-2"},
	} {
		args = append([]string{"-upstreams", "127.0.0.1:1"}, args...)
		if err := run(context.Background(), args, nil); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestRateLimits runs the load balancer with -rate, locally and with a
// Redis that cannot be reached in fail-closed mode, and checks the
// answers: the local limit admits its burst then answers 429; the closed
// Redis limit answers 503.
func TestRateLimits(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	for _, tc := range []struct {
		args  []string
		codes string
	}{
		{[]string{"-rate", "3/m"}, "200 200 200 429 429"},
		{[]string{"-rate", "3/m", "-rate-key", "global"}, "200 200 200 429 429"},
		{[]string{"-rate", "3/m", "-redis", "127.0.0.1:1", "-redis-mode", "closed"}, "503 503 503 503 503"},
	} {
		addr, stop := startLB(t, append([]string{"-upstreams", strings.TrimPrefix(backend.URL, "http://")}, tc.args...)...)
		var codes []string
		for range 5 {
			resp, err := http.Get("http://" + addr.String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.Status[:3])
		}
		if got := strings.Join(codes, " "); got != tc.codes {
			t.Errorf("%v: status codes %s, want %s", tc.args, got, tc.codes)
		}
		if err := stop(); err != nil {
			t.Errorf("%v: run = %v after cancel", tc.args, err)
		}
	}
}
