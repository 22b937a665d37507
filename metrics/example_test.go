package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gatekit/gatekit/metrics"
)

func ExampleMiddleware() {
	m, err := metrics.New(metrics.Config{})
	if err != nil {
		panic(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	h := metrics.Middleware(m)(app)
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "gatekit_http_requests_total{") || strings.HasPrefix(sc.Text(), "gatekit_http_response_body_bytes_total{") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// gatekit_http_requests_total{code="2xx",method="GET",rule="none"} 3
	// gatekit_http_response_body_bytes_total{rule="none"} 15
}
