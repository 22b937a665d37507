package reqinfo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

// accessLogWriter is the writer an access log passes on: it collects the
// Info of the request it answers.
type accessLogWriter struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *accessLogWriter) RequestInfo() *reqinfo.Info { return &w.info }

func Example() {
	// An inner stage, such as a route table, records what it did.
	stage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := reqinfo.From(w); info != nil {
			info.Rule, info.Cache = "items", "hit"
		}
	})
	w := &accessLogWriter{ResponseWriter: httptest.NewRecorder()}
	stage.ServeHTTP(w, httptest.NewRequest("GET", "/items/1", nil))
	fmt.Println(w.info.Rule, w.info.Cache)

	// Without a collector around it, the stage records nothing.
	stage.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/items/1", nil))
	// Output:
	// items hit
}
