package balancer

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestUpstreamValidation(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	tests := []struct {
		name string
		up   Upstream
		ok   bool
	}{
		{"plain", Upstream{URL: u("http://a:1")}, true},
		{"https with path", Upstream{URL: u("https://a/base")}, true},
		{"h2c", Upstream{URL: u("H2C://a:50051")}, true},
		{"zero weight means 1", Upstream{URL: u("http://a:1"), Weight: 0}, true},
		{"max weight", Upstream{URL: u("http://a:1"), Weight: MaxWeight}, true},
		{"negative weight", Upstream{URL: u("http://a:1"), Weight: -1}, false},
		{"huge weight", Upstream{URL: u("http://a:1"), Weight: MaxWeight + 1}, false},
		{"no URL", Upstream{}, false},
		{"bad scheme", Upstream{URL: u("ftp://a")}, false},
		{"no host", Upstream{URL: u("http:///x")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool([]Upstream{tc.up})
			if (err == nil) != tc.ok {
				t.Fatalf("NewPool(%+v) error = %v, want ok=%v", tc.up, err, tc.ok)
			}
			if want := max(tc.up.Weight, 1); err == nil && p.Targets()[0].Weight() != want {
				t.Fatalf("weight %d, want %d", p.Targets()[0].Weight(), want)
			}
		})
	}
}

func TestParseUpstreams(t *testing.T) {
	ups, err := ParseUpstreams(" 127.0.0.1:9001, https://B.example:8443/api ,h2c://10.0.0.1:50051")
	if err != nil || len(ups) != 3 {
		t.Fatalf("ParseUpstreams = %v, %v", ups, err)
	}
	p, err := NewPool(ups)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tg := range p.Targets() {
		ids = append(ids, tg.ID())
	}
	if ids[0] != "http://127.0.0.1:9001" || ids[1] != "https://b.example:8443/api" || ids[2] != "h2c://10.0.0.1:50051" {
		t.Errorf("IDs = %q", ids)
	}
	for _, bad := range []string{"", " , ", "ftp://x", "http://[::1"} {
		if _, err := ParseUpstreams(bad); err == nil {
			t.Errorf("ParseUpstreams(%q) succeeded", bad)
		}
	}
	if _, err := ParseUpstreams(""); !errors.Is(err, ErrNoTargets) {
		t.Errorf("empty list error %v, want ErrNoTargets", err)
	}
	if _, err := NewPool([]Upstream{ups[0], ups[0]}); err == nil {
		t.Error("duplicate upstreams accepted")
	}
}

// TestWeightSemantics checks the documented weights of Add and Update: 0
// means the default 1 (not zero traffic), 1 to MaxWeight are kept, and a
// negative weight or one above MaxWeight is an error that changes nothing.
// Draining is Remove or SetHealthy(t, false).
func TestWeightSemantics(t *testing.T) {
	tests := []struct {
		name   string
		weight int
		want   int // 0: an error
	}{
		{"zero means 1", 0, 1},
		{"one", 1, 1},
		{"seven", 7, 7},
		{"max", MaxWeight, MaxWeight},
		{"negative", -1, 0},
		{"very negative", -MaxWeight, 0},
		{"above max", MaxWeight + 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := weightedPool(t, 3)
			u := &url.URL{Scheme: "http", Host: "new.test:80"}
			tg, err := pool.Add(Upstream{URL: u, Weight: tc.weight})
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("Add(Weight: %d) succeeded with weight %d, want an error", tc.weight, tg.Weight())
			case tc.want == 0 && pool.Len() != 1:
				t.Fatalf("a failed Add changed the pool: %d targets", pool.Len())
			case tc.want != 0 && err != nil:
				t.Fatalf("Add(Weight: %d) = %v", tc.weight, err)
			case tc.want != 0 && tg.Weight() != tc.want:
				t.Fatalf("Add(Weight: %d) gave weight %d, want %d", tc.weight, tg.Weight(), tc.want)
			}
			a := pool.Targets()[0]
			if err := pool.Update(Upstream{URL: a.URL(), Weight: 5}); err != nil {
				t.Fatal(err)
			}
			total := pool.load().total
			err = pool.Update(Upstream{URL: a.URL(), Weight: tc.weight})
			switch {
			case tc.want == 0 && err == nil:
				t.Fatalf("Update(Weight: %d) succeeded with weight %d, want an error", tc.weight, a.Weight())
			case tc.want == 0 && (a.Weight() != 5 || pool.load().total != total):
				t.Fatalf("a failed Update changed the weight to %d (pool total %d, was %d)", a.Weight(), pool.load().total, total)
			case tc.want != 0 && err != nil:
				t.Fatalf("Update(Weight: %d) = %v", tc.weight, err)
			case tc.want != 0 && a.Weight() != tc.want:
				t.Fatalf("Update(Weight: %d) gave weight %d, want %d", tc.weight, a.Weight(), tc.want)
			}
		})
	}
	t.Run("drain", func(t *testing.T) {
		pool := weightedPool(t, 1, 1, 1)
		a, b := pool.Targets()[0], pool.Targets()[1]
		wrr := NewWeightedRoundRobin(pool)
		if err := pool.Update(Upstream{URL: a.URL(), Weight: 0}); err != nil || a.Weight() != 1 {
			t.Fatalf("Update(Weight: 0) = %v, weight %d; want weight 1", err, a.Weight())
		}
		if got := picks(t, wrr, 30); strings.Count(got, "a") != 10 {
			t.Errorf("after Update(Weight: 0), picks = %q, want a still taking its equal share", got)
		}
		pool.SetHealthy(a, false)
		pool.Remove(b.URL())
		if got := picks(t, wrr, 30); got != strings.Repeat("c", 30) {
			t.Errorf("after SetHealthy(a, false) and Remove(b), picks = %q, want only c", got)
		}
	})
}

// FuzzParseUpstreams checks that any list either fails or yields
// upstreams whose canonical IDs parse back to the same targets.
func FuzzParseUpstreams(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "a:1,b:2", "https://x/y", "ftp://x", "http://[::1]:8080", ",,", "http://%zz", "A:1,a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ups, err := ParseUpstreams(list)
		if err != nil {
			return
		}
		pool, err := NewPool(ups)
		if err != nil {
			return // duplicates
		}
		for _, tg := range pool.Targets() {
			again, err := ParseUpstreams(tg.ID())
			if err != nil || len(again) != 1 {
				t.Fatalf("ID %q of %q does not parse back: %v", tg.ID(), list, err)
			}
			u, _ := again[0].normalize()
			if u.String() != tg.ID() {
				t.Fatalf("ID %q re-parses as %q", tg.ID(), u.String())
			}
		}
	})
}
