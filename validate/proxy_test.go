package validate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBehindReverseProxy runs the middleware in front of an
// httputil.ReverseProxy over real connections: the backend receives the
// exact bytes with a matching Content-Length, and rejected requests never
// reach it.
func TestBehindReverseProxy(t *testing.T) {
	var mu sync.Mutex
	var got []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" cl="+r.Header.Get("Content-Length")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	gw := httptest.NewServer(Middleware(newShop(t, Config{}))(proxy))
	defer gw.Close()

	send := func(path, body string) int {
		r, _ := http.NewRequest("POST", gw.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", jsonCT)
		r.Header.Set("X-API-Key", "secret")
		resp, err := gw.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := "{\"rating\": 4,\n \"title\":\"ok\"}"
	if code := send("/v1/products/"+pid+"/reviews", body); code != http.StatusCreated {
		t.Fatalf("valid request: status %d", code)
	}
	if code := send("/v1/products/"+pid+"/reviews", `{"rating": 9}`); code != http.StatusBadRequest {
		t.Fatalf("invalid request: status %d", code)
	}
	gw.Client().CloseIdleConnections()
	mu.Lock()
	defer mu.Unlock()
	want := "POST /v1/products/" + pid + "/reviews cl=" + strconv.Itoa(len(body)) + " " + body
	if len(got) != 1 || got[0] != want {
		t.Fatalf("backend saw %q, want [%q]", got, want)
	}
}
