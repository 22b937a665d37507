package gatekit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{validTP, true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},
		{"", false},
	} {
		id, ok := ParseTraceparent(tc.v)
		if ok != tc.ok || ok && id != tc.v[3:35] {
			t.Errorf("ParseTraceparent(%q) = %q, %v, want ok %v", tc.v, id, ok, tc.ok)
		}
	}
}

func TestTraceContext(t *testing.T) {
	tests := []struct {
		name      string
		generate  bool
		in        []string
		wantSame  bool // the upstream sees the client's traceparent unchanged
		wantValid bool // the upstream sees a valid traceparent
	}{
		{"valid passes unchanged", false, []string{validTP}, true, true},
		{"valid passes unchanged when generating", true, []string{validTP}, true, true},
		{"absent stays absent", false, nil, false, false},
		{"absent is generated", true, nil, false, true},
		{"invalid is removed", false, []string{"00-zz"}, false, false},
		{"invalid is replaced", true, []string{"00-zz"}, false, true},
		{"two values are invalid", true, []string{validTP, validTP}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			var state string
			rec := &infoRecorder{ResponseWriter: httptest.NewRecorder()}
			info := &rec.info
			h := TraceContext(TraceConfig{Generate: tc.generate})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, state = r.Header.Values("Traceparent"), r.Header.Get("Tracestate")
			}))
			r := httptest.NewRequest("GET", "/", nil)
			for _, v := range tc.in {
				r.Header.Add("Traceparent", v)
			}
			r.Header.Set("Tracestate", "vendor=1")
			h.ServeHTTP(rec, r)
			if got := len(seen) == 1 && len(tc.in) == 1 && seen[0] == tc.in[0]; got != tc.wantSame {
				t.Errorf("upstream traceparent %q, client sent %q", seen, tc.in)
			}
			valid := len(seen) == 1
			if valid {
				id, ok := ParseTraceparent(seen[0])
				valid = ok
				if info.TraceID != id {
					t.Errorf("access log trace ID %q, upstream's %q", info.TraceID, id)
				}
			}
			if valid != tc.wantValid {
				t.Errorf("upstream traceparent %q valid = %v, want %v", seen, valid, tc.wantValid)
			}
			if (state != "") != tc.wantSame {
				t.Errorf("upstream tracestate %q; it must travel only with the client's valid traceparent", state)
			}
			if got := r.Header.Values("Traceparent"); strings.Join(got, ",") != strings.Join(tc.in, ",") {
				t.Errorf("the caller's request was modified: %q", got)
			}
		})
	}
}

// FuzzParseTraceparent checks that a valid value's trace ID is its 32 hex
// digits and that no input panics.
// infoRecorder is a ResponseWriter collecting a request's reqinfo.Info,
// as the access log's writer does.
type infoRecorder struct {
	http.ResponseWriter
	info reqinfo.Info
}

func (w *infoRecorder) RequestInfo() *reqinfo.Info { return &w.info }

func FuzzParseTraceparent(f *testing.F) {
	f.Add(validTP)
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("00-")
	f.Fuzz(func(t *testing.T, v string) {
		id, ok := ParseTraceparent(v)
		if ok && (len(id) != 32 || id != v[3:35] || !lowerHex(id)) {
			t.Fatalf("ParseTraceparent(%q) = %q", v, id)
		}
	})
}

func BenchmarkTraceContext(b *testing.B) {
	h := TraceContext(TraceConfig{Generate: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Traceparent", validTP)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
