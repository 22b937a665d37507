package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

type infoWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoWriter) RequestInfo() *reqinfo.Info { return &w.info }

// TestVerdictReachesTheAccessLog checks that the cache tells the writer
// of an access log around it whether it answered from the store.
func TestVerdictReachesTheAccessLog(t *testing.T) {
	c, err := New(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := Middleware(c)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private" {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		io.WriteString(w, "x")
	}))
	verdict := func(method, path string) string {
		w := &infoWriter{ResponseWriter: httptest.NewRecorder()}
		h.ServeHTTP(w, httptest.NewRequest(method, "http://example.com"+path, nil))
		c.Wait()
		return w.info.Cache
	}
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/a", "miss"},
		{"GET", "/a", "hit"},
		{"POST", "/a", "bypass"},
		{"GET", "/private", "miss"},
	} {
		if got := verdict(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: verdict %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
