package route

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatekit/gatekit/reqkey"
)

func TestSplitDividesByWeightAndKeepsKeysTogether(t *testing.T) {
	tb := mustNew(t, []Rule{{
		Path:     "/",
		Split:    []Backend{{Name: "stable", Weight: 90, Handler: named("stable")}, {Name: "canary", Weight: 10, Handler: named("canary")}, {Name: "off", Weight: 0, Handler: named("off")}},
		SplitKey: func(r *http.Request) string { return r.Header.Get("X-User") },
	}}, Config{})
	counts := map[string]int{}
	for i := range 2000 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", fmt.Sprint("user-", i))
		_, body, _ := serve(tb, r)
		counts[body]++
		// The same key always lands on the same backend.
		for range 3 {
			if _, again, _ := serve(tb, r); again != body {
				t.Fatalf("key user-%d moved from %s to %s", i, body, again)
			}
		}
	}
	if counts["off"] != 0 || counts["canary"] < 120 || counts["canary"] > 280 {
		t.Errorf("keyed split counts = %v, want about 10%% canary and no off", counts)
	}
	counts = map[string]int{}
	for range 2000 {
		_, body, _ := serve(tb, httptest.NewRequest("GET", "/", nil)) // empty key: random
		counts[body]++
	}
	if counts["off"] != 0 || counts["canary"] < 120 || counts["canary"] > 280 {
		t.Errorf("random split counts = %v, want about 10%% canary", counts)
	}
}

func TestSplitRecordsChosenBackend(t *testing.T) {
	var backend string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, _ := FromContext(r.Context())
		backend = m.Backend
	})
	tb := mustNew(t, []Rule{{Path: "/", Split: []Backend{{Weight: 1, Handler: h}}, SplitKey: reqkey.ClientIP}}, Config{})
	serve(tb, httptest.NewRequest("GET", "/", nil))
	if backend != "#0" {
		t.Errorf("Match.Backend = %q, want #0", backend)
	}
}

// availability is a backend handler that reports whether it can serve.
type availability struct {
	http.Handler
	up bool
}

func (a *availability) Available() bool { return a.up }

func TestSplitSkipsBackendThatCannotServe(t *testing.T) {
	stable := &availability{Handler: named("stable"), up: true}
	canary := &availability{Handler: named("canary"), up: false}
	tb := mustNew(t, []Rule{{
		Path:        "/",
		Split:       []Backend{{Name: "stable", Weight: 90, Handler: stable}, {Name: "canary", Weight: 10, Handler: canary}},
		SplitKey:    func(r *http.Request) string { return r.Header.Get("X-User") },
		SplitHeader: "X-Backend",
	}}, Config{})
	count := func() map[string]int {
		counts := map[string]int{}
		for i := range 500 {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-User", fmt.Sprint("user-", i))
			_, body, h := serve(tb, r)
			if h.Get("X-Backend") != body {
				t.Fatalf("X-Backend = %q, served by %q", h.Get("X-Backend"), body)
			}
			counts[body]++
		}
		return counts
	}
	if c := count(); c["canary"] != 0 || c["stable"] != 500 {
		t.Errorf("canary down: %v, want every request on stable", c)
	}
	stable.up, canary.up = false, true
	if c := count(); c["canary"] != 500 {
		t.Errorf("stable down: %v, want every request on canary", c)
	}
	stable.up, canary.up = false, false
	if c := count(); c["canary"] == 0 || c["stable"] == 0 {
		t.Errorf("both down: %v, want the weighted choice (their own 503s)", c)
	}
	stable.up, canary.up = true, true
	if c := count(); c["canary"] == 0 || c["canary"] > 100 {
		t.Errorf("both up: %v, want about 10%% canary", c)
	}
}

func TestSplitHeaderIsOptIn(t *testing.T) {
	tb := mustNew(t, []Rule{{Path: "/", Split: []Backend{{Name: "only", Weight: 1, Handler: named("only")}}}}, Config{})
	if _, _, h := serve(tb, httptest.NewRequest("GET", "/", nil)); h.Get("X-Backend") != "" {
		t.Errorf("backend named without SplitHeader: %v", h)
	}
	if _, err := New([]Rule{{Path: "/", SplitHeader: "bad header", Split: []Backend{{Weight: 1, Handler: named("x")}}}}, Config{}); err == nil {
		t.Error("invalid SplitHeader accepted")
	}
}
