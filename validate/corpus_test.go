package validate

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The corpus: public OpenAPI documents under testdata/corpus (sources and
// licences in SOURCES.md). Each is loaded, and for each operation a valid
// request is generated from its schemas, then broken in the ways a schema
// forbids (a required property or parameter left out, a value of the wrong
// type). Every valid request must pass and every broken one must get 400.

// corpusDoc reads a corpus document, gunzipping *.gz.
func corpusDoc(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func corpusNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, pat := range []string{"*.json", "*.yaml", "*.gz"} {
		m, err := filepath.Glob(filepath.Join("testdata", "corpus", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	if len(names) < 20 {
		t.Fatalf("%d corpus documents, want at least 20", len(names))
	}
	return names
}

// TestCorpus loads every corpus document and checks the requests
// generated from it.
func TestCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("loads several MB of documents")
	}
	total, generated := 0, 0
	for _, name := range corpusNames(t) {
		t.Run(name, func(t *testing.T) {
			v, err := Load(corpusDoc(t, name), Config{SkipSecurity: true, MaxBodyBytes: 8 << 20})
			if err != nil {
				t.Fatal(err)
			}
			reqs, ops := corpusRequests(v)
			total += ops
			var slowest time.Duration
			valid := 0
			for _, g := range reqs {
				if g.ok {
					generated++
					valid++
				}
				start := time.Now()
				_, err := v.ValidateRequest(g.build(), g.body)
				d := time.Since(start)
				slowest = max(slowest, d)
				if d > 5*time.Millisecond {
					t.Logf("%s %s (%s) took %v", g.method, g.target, g.what, d)
				}
				if got := err == nil; got != g.ok {
					t.Errorf("%s %s (%s) accepted = %v, want %v: %v %s", g.method, g.target, g.what, got, g.ok, err, fieldsOf(err))
				}
			}
			t.Logf("%d operations, %d requests (%d valid), slowest validation %v", ops, len(reqs), valid, slowest)
		})
	}
	if generated*2 < total {
		t.Errorf("valid requests generated for %d of %d operations, want at least half", generated, total)
	}
}

func fieldsOf(err error) string {
	e, ok := err.(*Error)
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "[%s %s%s: %s] ", f.In, f.Name, f.Pointer, f.Reason)
	}
	return b.String()
}

// corpusRequests generates the requests for every operation of v's
// document, and returns them with the number of operations.
func corpusRequests(v *Validator) ([]genReq, int) {
	var out []genReq
	ops := 0
	paths := v.doc.Paths.Map()
	tmpls := make([]string, 0, len(paths))
	for tmpl := range paths {
		tmpls = append(tmpls, tmpl)
	}
	sort.Strings(tmpls)
	for _, tmpl := range tmpls {
		item := paths[tmpl]
		if item == nil {
			continue
		}
		methods := item.Operations()
		names := make([]string, 0, len(methods))
		for m := range methods {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, method := range names {
			ops++
			if v.broken[pointerOf([]string{"paths", tmpl, strings.ToLower(method)})] {
				continue
			}
			out = append(out, genOperation(tmpl, method, item, methods[method])...)
		}
	}
	return out, ops
}

// largestDocs are the corpus documents over 1 MB.
var largestDocs = []string{"openai.yaml.gz", "twilio-api-v2010.json.gz", "box.json.gz", "discord.json.gz"}

// BenchmarkCorpusLoad measures loading the largest corpus documents: time,
// allocation, and the heap the Validator keeps (heap-MB).
func BenchmarkCorpusLoad(b *testing.B) {
	docs := largestDocs
	if testing.Short() {
		docs = []string{"readme-30-petstore.json"} // CI's quick pass: a load of a large one takes seconds
	}
	for _, name := range docs {
		data := corpusDoc(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var kept uint64
			for b.Loop() {
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				b.StartTimer()
				v, err := Load(data, Config{SkipSecurity: true})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				kept = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(v)
				b.StartTimer()
			}
			b.ReportMetric(float64(kept)/(1<<20), "heap-MB")
		})
	}
}

// BenchmarkCorpusRequests validates every valid request generated from a
// corpus document, with our engine and with kin-openapi's pipeline
// (gorillamux FindRoute + openapi3filter.ValidateRequest); ns/req is the
// mean per request. Requests are built before the timer starts (building
// one with httptest.NewRequest costs about as much as validating it), so
// that only validation is measured. Under -short, three small documents;
// otherwise every corpus document.
func BenchmarkCorpusRequests(b *testing.B) {
	docs := []string{"redocly-museum.yaml", "readme-31-train-travel.json", "readme-30-petstore.json"}
	if !testing.Short() {
		docs = corpusNames(b)
	}
	for _, name := range docs {
		data := corpusDoc(b, name)
		v, err := Load(data, Config{SkipSecurity: true, MaxBodyBytes: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		all, _ := corpusRequests(v)
		var reqs []genReq
		for _, g := range all {
			if g.ok {
				reqs = append(reqs, g)
			}
		}
		if len(reqs) == 0 {
			continue
		}
		built := make([]*http.Request, len(reqs))
		for i, g := range reqs {
			built[i] = g.build()
		}
		b.Run(name+"/gatekit-engine", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i, g := range reqs {
					_, _ = v.ValidateRequest(built[i], g.body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/req")
		})
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			b.Fatal(err)
		}
		doc.Servers = nil
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			b.Logf("%s: kin-openapi's router refuses the document: %v", name, err)
			continue
		}
		opts := &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, SchemaValidationOptions: formatOptions(),
			AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }}
		b.Run(name+"/kin-gorillamux", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i, g := range reqs {
					r := built[i]
					r.Body = io.NopCloser(bytes.NewReader(g.body)) // kin-openapi reads it
					route, params, err := router.FindRoute(r)
					if err != nil {
						continue
					}
					_ = openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts})
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/req")
		})
	}
}

// TestCorpusHardConstructs names the constructs of real documents that
// kept them from loading or blocked valid traffic.
func TestCorpusHardConstructs(t *testing.T) {
	load := func(name string, cfg Config) (*Validator, error) {
		cfg.SkipSecurity = true
		return Load(corpusDoc(t, name), cfg)
	}
	warns := func(name, want string) {
		t.Helper()
		v, err := load(name, Config{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range v.Warnings() {
			if strings.Contains(w.Reason, want) {
				return
			}
		}
		t.Errorf("%s: no warning about %q in %v", name, want, v.Warnings())
	}
	t.Run("recursiveRef siblings in 3.1 (OpenAI)", func(t *testing.T) { warns("openai.yaml.gz", "$recursiveRef") })
	t.Run("boolean exclusiveMinimum in 3.1", func(t *testing.T) { warns("readme-31-schema-validation-local.json", "boolean exclusiveMinimum") })
	t.Run("array without items", func(t *testing.T) { warns("readme-30-schema-types.json", "'items' must be non-null") })
	t.Run("examples that do not match (Twilio, Box) only in Strict", func(t *testing.T) {
		for _, name := range []string{"twilio-api-v2010.json.gz", "box.json.gz"} {
			if _, err := load(name, Config{}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			_, err := load(name, Config{Strict: true})
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) < 10 {
				t.Fatalf("%s in Strict: %v, want a LoadError with every problem", name, err)
			}
			for _, p := range le.Problems {
				if !strings.HasPrefix(p.Pointer, "/") || strings.Contains(p.Reason, "\n") {
					t.Errorf("%s: problem %q is not a pointer and one line", name, p)
				}
			}
		}
	})
	t.Run("const in a 3.1 body is compiled at load (Discord)", func(t *testing.T) {
		v, err := load("discord.json.gz", Config{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for tmpl := range v.doc.Paths.Map() {
			e, _ := v.ops.lookup(templateVars.ReplaceAllString(tmpl, "x"), nil)
			if e == nil {
				continue
			}
			for _, op := range e.methods {
				n += len(op.body2020)
			}
		}
		if n < 20 {
			t.Errorf("%d Discord bodies have a validator compiled at load, want at least 20", n)
		}
	})
}

var templateVars = regexp.MustCompile(`\{[^}]*\}`)

// BenchmarkCorpusLatency validates the requests generated from each corpus
// document, valid and invalid, one at a time, timing each call, and
// reports per request the median (p50-us), the 99th percentile (p99-us)
// and the slowest call (max-us), in microseconds. An iteration validates
// every request of the document once. Under -short, three small
// documents; otherwise every corpus document.
func BenchmarkCorpusLatency(b *testing.B) {
	docs := []string{"redocly-museum.yaml", "readme-31-train-travel.json", "readme-30-petstore.json"}
	if !testing.Short() {
		docs = corpusNames(b)
	}
	for _, name := range docs {
		v, err := Load(corpusDoc(b, name), Config{SkipSecurity: true, MaxBodyBytes: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		reqs, _ := corpusRequests(v)
		if len(reqs) == 0 {
			continue
		}
		built := make([]*http.Request, len(reqs))
		for i, g := range reqs {
			built[i] = g.build()
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var samples []time.Duration
			for b.Loop() {
				for i, g := range reqs {
					start := time.Now()
					_, _ = v.ValidateRequest(built[i], g.body)
					samples = append(samples, time.Since(start))
				}
			}
			slices.Sort(samples)
			at := func(q float64) float64 {
				return float64(samples[int(q*float64(len(samples)-1))].Nanoseconds()) / 1e3
			}
			b.ReportMetric(at(0.5), "p50-us")
			b.ReportMetric(at(0.99), "p99-us")
			b.ReportMetric(at(1), "max-us")
		})
	}
}
