package reqinfo

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

type recorder struct {
	http.ResponseWriter
	info Info
}

func (r *recorder) RequestInfo() *Info { return &r.info }

type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestFromWalksTheUnwrapChain(t *testing.T) {
	if got := From(httptest.NewRecorder()); got != nil {
		t.Fatalf("From(plain writer) = %+v, want nil", got)
	}
	rec := &recorder{ResponseWriter: httptest.NewRecorder()}
	From(wrapper{wrapper{rec}}).Rule = "api"
	if rec.info.Rule != "api" {
		t.Errorf("a stage's write did not reach the recorder: %+v", rec.info)
	}
	var chain http.ResponseWriter = wrapper{wrapper{rec}}
	if n := testing.AllocsPerRun(100, func() { _ = From(chain) }); n != 0 {
		t.Errorf("From allocates %v times", n)
	}
}
