package metrics

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

// Request is one answered request, as Observe records it.
type Request struct {
	// Rule is the route rule's name; "" is recorded as "none".
	Rule string
	// Method is the request method; methods outside RFC 9110's are
	// recorded as "OTHER", so that clients cannot create series.
	Method string
	// Status is the response status; it is recorded by class ("2xx").
	// A client that went away before the response is 499 ("4xx").
	Status int
	// Duration is the time from the request's arrival to the end of its
	// response.
	Duration time.Duration
	// BytesIn and BytesOut are the request and response body bytes.
	BytesIn, BytesOut int64
}

// methods are the label values of the method label; the last is "OTHER".
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "OTHER"}

// classes are the label values of the code label, by status / 100.
var classes = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func methodIndex(m string) int {
	for i, s := range methods[:len(methods)-1] {
		if s == m {
			return i
		}
	}
	return len(methods) - 1
}

func classIndex(status int) int {
	if c := status / 100; c >= 1 && c <= 5 {
		return c
	}
	return 0
}

// ruleSeries are one rule's bound series: found with one map load, so
// that a request allocates nothing once its rule was seen.
type ruleSeries struct {
	m        *Metrics
	name     string
	duration prometheus.Observer
	in, out  prometheus.Counter
	counts   [len(methods)][len(classes)]atomic.Pointer[prometheus.Counter]
	// byClass and nanos mirror the counters for Rules, without going
	// through Prometheus's encoding.
	byClass [len(classes)]atomic.Uint64
	nanos   atomic.Int64
}

func (s *ruleSeries) count(method, class int) prometheus.Counter {
	if c := s.counts[method][class].Load(); c != nil {
		return *c
	}
	c := s.m.requests.WithLabelValues(s.name, methods[method], classes[class])
	s.counts[method][class].CompareAndSwap(nil, &c)
	return *s.counts[method][class].Load()
}

// series returns the bound series of rule, creating them on first use
// (or those of "other" beyond MaxRules).
func (m *Metrics) series(rule string) *ruleSeries {
	if rule == "" {
		rule = "none"
	}
	if s, ok := m.rules.Load(rule); ok {
		return s.(*ruleSeries)
	}
	m.ruleMu.Lock()
	defer m.ruleMu.Unlock()
	if s, ok := m.rules.Load(rule); ok {
		return s.(*ruleSeries)
	}
	if m.ruleCount >= m.maxRules && rule != "other" {
		m.ruleMu.Unlock()
		s := m.series("other")
		m.ruleMu.Lock()
		return s
	}
	s := &ruleSeries{
		m:        m,
		name:     rule,
		duration: m.duration.WithLabelValues(rule),
		in:       m.bytesIn.WithLabelValues(rule),
		out:      m.bytesOut.WithLabelValues(rule),
	}
	m.rules.Store(rule, s)
	m.ruleCount++
	return s
}

// Observe records one answered request. It allocates nothing once the
// request's rule, method and status class have been seen.
func (m *Metrics) Observe(r Request) {
	s := m.series(r.Rule)
	class := classIndex(r.Status)
	s.count(methodIndex(r.Method), class).Inc()
	s.byClass[class].Add(1)
	s.nanos.Add(int64(r.Duration))
	s.duration.Observe(r.Duration.Seconds())
	if r.BytesIn > 0 {
		s.in.Add(float64(r.BytesIn))
	}
	if r.BytesOut > 0 {
		s.out.Add(float64(r.BytesOut))
	}
}

// Middleware returns middleware that records every request with Observe,
// under the name of the route rule that served it (as the route table
// records it through reqinfo; put Middleware outside the table). The
// ResponseWriter it passes on keeps http.Flusher and Unwrap, so streaming,
// http.ResponseController and upgrades work through it. Once warm it
// allocates nothing per request, except to count a request body of
// unknown length.
func Middleware(m *Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := recorders.Get().(*recorder)
			rec.ResponseWriter, rec.status, rec.written, rec.info = w, 0, 0, reqinfo.Info{}
			info := reqinfo.From(w) // an outer access log's, if any
			if info == nil {
				info = &rec.info
			}
			// A body of known length is counted by its Content-Length; one of
			// unknown length (chunked) as it is read, on a copy of the
			// request so that the caller's is not modified.
			var body *countingBody
			if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
				r = r.WithContext(r.Context())
				body = &rec.body
				body.ReadCloser, body.n = r.Body, 0
				r.Body = body
			}
			defer func() {
				status := rec.status
				if status == 0 {
					status = http.StatusOK
				}
				if r.Context().Err() != nil && rec.status == 0 {
					status = 499
				}
				in := max(r.ContentLength, 0)
				if body != nil {
					in = body.n
				}
				m.Observe(Request{Rule: info.Rule, Method: r.Method, Status: status,
					Duration: time.Since(start), BytesIn: in, BytesOut: rec.written})
				rec.ResponseWriter, rec.body.ReadCloser = nil, nil
				recorders.Put(rec)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// recorder notes the status and body size of a response.
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
	body    countingBody
	info    reqinfo.Info // the request's Info when no outer writer collects it
}

// RequestInfo implements reqinfo.Recorder: the outer collector's Info
// when there is one, so that both read the same record.
func (rw *recorder) RequestInfo() *reqinfo.Info {
	if outer := reqinfo.From(rw.ResponseWriter); outer != nil {
		return outer
	}
	return &rw.info
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.written += int64(n)
	return n, err
}

// Flush implements http.Flusher when the underlying writer does.
func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	http.NewResponseController(rw.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// countingBody counts the request body bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// RuleStats are the request counters of one route rule since the Metrics
// was made.
type RuleStats struct {
	// Rule is the rule's name ("none" for requests no rule matched).
	Rule string `json:"rule"`
	// Requests counts every answered request; ClientErrors (4xx, 499
	// included) and ServerErrors (5xx) are among them.
	Requests     uint64 `json:"requests"`
	ClientErrors uint64 `json:"client_errors"`
	ServerErrors uint64 `json:"server_errors"`
	// Duration is the sum of the requests' durations.
	Duration time.Duration `json:"duration_ns"`
}

// Rules returns the counters of every rule seen, in name order.
func (m *Metrics) Rules() []RuleStats {
	var out []RuleStats
	m.rules.Range(func(k, v any) bool {
		s := v.(*ruleSeries)
		rs := RuleStats{Rule: s.name, ClientErrors: s.byClass[4].Load(), ServerErrors: s.byClass[5].Load(), Duration: time.Duration(s.nanos.Load())}
		for i := range s.byClass {
			rs.Requests += s.byClass[i].Load()
		}
		out = append(out, rs)
		return true
	})
	slices.SortFunc(out, func(a, b RuleStats) int { return strings.Compare(a.Rule, b.Rule) })
	return out
}
