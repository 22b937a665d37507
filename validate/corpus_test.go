package validate

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
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

// genReq is a generated request and whether it must be accepted.
type genReq struct {
	what   string
	method string
	target string
	ct     string
	body   []byte
	header http.Header
	ok     bool
}

func (g genReq) build() *http.Request {
	r := httptest.NewRequest(g.method, g.target, bytes.NewReader(g.body))
	for k, vs := range g.header {
		r.Header[k] = vs
	}
	if g.ct != "" {
		r.Header.Set("Content-Type", g.ct)
	}
	return r
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

// genOperation returns a valid request for op and broken variants of it,
// or nothing when the generator cannot build a valid one.
func genOperation(tmpl, method string, item *openapi3.PathItem, op *openapi3.Operation) []genReq {
	if !templateIsPlain(tmpl) {
		return nil
	}
	params := mergeParams(item.Parameters, op.Parameters)
	pathVals := map[string]string{}
	query := url.Values{}
	header := http.Header{}
	var cookies []string
	var out []genReq
	var broken []func(g genReq) genReq
	for _, p := range params {
		if p.In != openapi3.ParameterInPath && !p.Required {
			continue
		}
		raw, ok := genParam(p)
		if !ok {
			return nil
		}
		switch p.In {
		case openapi3.ParameterInPath:
			pathVals[p.Name] = raw
			if s := paramSchema(p); s != nil && s.Type != nil && s.Type.Is(openapi3.TypeInteger) && len(s.Enum) == 0 {
				name := p.Name
				broken = append(broken, func(g genReq) genReq {
					g.what, g.target = "path "+name+" not an integer", expand(tmpl, pathVals, name, "notanumber")+queryOf(query)
					return g
				})
			}
		case openapi3.ParameterInQuery:
			query[p.Name] = strings.Split(raw, "\x00")
			name := p.Name
			broken = append(broken, func(g genReq) genReq {
				q := url.Values{}
				for k, v := range query {
					if k != name {
						q[k] = v
					}
				}
				g.what, g.target = "required query "+name+" missing", expand(tmpl, pathVals, "", "")+queryOf(q)
				return g
			})
		case openapi3.ParameterInHeader:
			if strings.EqualFold(p.Name, "Content-Type") || strings.EqualFold(p.Name, "Accept") || strings.EqualFold(p.Name, "Authorization") {
				continue
			}
			header.Set(p.Name, raw)
		case openapi3.ParameterInCookie:
			cookies = append(cookies, p.Name+"="+raw)
		}
	}
	if len(cookies) > 0 {
		header.Set("Cookie", strings.Join(cookies, "; "))
	}
	g := genReq{what: "valid", method: method, target: expand(tmpl, pathVals, "", "") + queryOf(query), header: header, ok: true}
	if rb := op.RequestBody; rb != nil && rb.Value != nil && len(rb.Value.Content) > 0 {
		ct, body, schema, ok := genBody(rb.Value)
		if !ok {
			if rb.Value.Required {
				return nil
			}
		} else {
			g.ct, g.body = ct, body
			if isJSON(mediaType(ct)) && schema != nil {
				broken = append(broken, jsonBodyBreakers(schema, body)...)
			}
		}
	}
	out = append(out, g)
	for _, b := range broken {
		bg := b(g)
		bg.ok = false
		out = append(out, bg)
	}
	return out
}

// templateIsPlain reports whether every path segment is a literal or one
// whole {param}.
func templateIsPlain(tmpl string) bool {
	for _, seg := range strings.Split(tmpl, "/") {
		if strings.ContainsAny(seg, "{}") && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && strings.Count(seg, "{") == 1) {
			return false
		}
	}
	return !strings.ContainsAny(tmpl, "#?;")
}

func expand(tmpl string, vals map[string]string, override, with string) string {
	segs := strings.Split(tmpl, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") {
			name := seg[1 : len(seg)-1]
			v := vals[name]
			if name == override {
				v = with
			}
			segs[i] = url.PathEscape(v)
		}
	}
	return strings.Join(segs, "/")
}

func queryOf(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func paramSchema(p *openapi3.Parameter) *openapi3.Schema {
	if p.Schema == nil {
		return nil
	}
	return p.Schema.Value
}

// genParam returns a valid raw value for p (list items separated by NUL
// for exploded query arrays).
func genParam(p *openapi3.Parameter) (string, bool) {
	if p.Content != nil {
		for ct, m := range p.Content {
			if !isJSON(mediaType(ct)) || m == nil || m.Schema == nil {
				return "", false
			}
			v, ok := genValue(m.Schema.Value, 0)
			if !ok {
				return "", false
			}
			b, _ := json.Marshal(v)
			return string(b), true
		}
		return "", false
	}
	s := paramSchema(p)
	if s == nil || p.Style == openapi3.SerializationDeepObject || p.AllowEmptyValue {
		return "", false
	}
	v, ok := genValue(s, 0)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case map[string]any:
		return "", false
	case []any:
		if len(x) == 0 || p.In == openapi3.ParameterInCookie {
			return "", false
		}
		parts := make([]string, len(x))
		for i, it := range x {
			s, ok := scalarText(it)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		sm, err := p.SerializationMethod()
		if err != nil {
			return "", false
		}
		if p.In == openapi3.ParameterInQuery && sm.Explode && sm.Style == openapi3.SerializationForm {
			return strings.Join(parts, "\x00"), true
		}
		if sm.Style != openapi3.SerializationSimple && sm.Style != openapi3.SerializationForm {
			return "", false
		}
		return strings.Join(parts, ","), true
	}
	s2, ok := scalarText(v)
	if !ok || s2 == "" {
		return "", false
	}
	return s2, true
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, !strings.ContainsAny(x, ",\x00")
	case bool:
		return strconv.FormatBool(x), true
	case float64, int, json.Number:
		b, _ := json.Marshal(x)
		return string(b), true
	}
	return "", false
}

// genBody picks a JSON or form media type of rb and generates a body.
func genBody(rb *openapi3.RequestBody) (string, []byte, *openapi3.Schema, bool) {
	cts := sortedKeys(rb.Content)
	for _, ct := range cts {
		m := rb.Content[ct]
		if m == nil || !isJSON(mediaType(ct)) || strings.Contains(ct, "*") {
			continue
		}
		var s *openapi3.Schema
		if m.Schema != nil {
			s = m.Schema.Value
		}
		v, ok := genValue(s, 0)
		if !ok {
			return "", nil, nil, false
		}
		b, err := json.Marshal(v)
		if err != nil {
			return "", nil, nil, false
		}
		return ct, b, s, true
	}
	for _, ct := range cts {
		m := rb.Content[ct]
		if m == nil || mediaType(ct) != "application/x-www-form-urlencoded" || m.Schema == nil {
			continue
		}
		v, ok := genValue(m.Schema.Value, 0)
		obj, isObj := v.(map[string]any)
		if !ok || !isObj {
			return "", nil, nil, false
		}
		form := url.Values{}
		for k, x := range obj {
			s, ok := scalarText(x)
			if !ok {
				return "", nil, nil, false
			}
			form.Set(k, s)
		}
		return ct, []byte(form.Encode()), nil, true
	}
	return "", nil, nil, false
}

// jsonBodyBreakers returns ways to make a valid JSON body for s invalid.
func jsonBodyBreakers(s *openapi3.Schema, body []byte) []func(genReq) genReq {
	if s.Type == nil || !s.Type.Is(openapi3.TypeObject) || s.Nullable || len(s.OneOf)+len(s.AnyOf) > 0 {
		return nil
	}
	out := []func(genReq) genReq{func(g genReq) genReq {
		g.what, g.body = "body an array instead of an object", []byte(`[1]`)
		return g
	}}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return out
	}
	for _, name := range s.Required {
		if p := s.Properties[name]; p != nil && p.Value != nil && p.Value.ReadOnly {
			continue
		}
		if _, ok := obj[name]; !ok {
			continue
		}
		name := name
		out = append(out, func(g genReq) genReq {
			m := make(map[string]any, len(obj))
			for k, v := range obj {
				if k != name {
					m[k] = v
				}
			}
			g.what = "required body property " + name + " missing"
			g.body, _ = json.Marshal(m)
			return g
		})
		break
	}
	return out
}

// genValue generates a value s accepts, or reports false when it cannot
// be sure to.
func genValue(s *openapi3.Schema, depth int) (any, bool) {
	if depth > 12 {
		return nil, false
	}
	if s == nil {
		return "x", true
	}
	if s.Not != nil || len(s.AnyOf) > 0 && s.Discriminator == nil || s.If != nil || len(s.PrefixItems) > 0 || s.Contains != nil ||
		len(s.PatternProperties) > 0 || s.PropertyNames != nil || len(s.DependentRequired) > 0 || len(s.DependentSchemas) > 0 {
		return nil, false
	}
	if s.Const != nil {
		return s.Const, true
	}
	if len(s.Enum) > 0 {
		for _, e := range s.Enum {
			if e != nil {
				return e, true
			}
		}
		return nil, false
	}
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 {
		return genBranch(s, depth)
	}
	if len(s.AllOf) > 0 {
		return genAllOf(s, depth)
	}
	typ := ""
	if s.Type != nil {
		for _, t := range s.Type.Slice() {
			if t != openapi3.TypeNull {
				typ = t
				break
			}
		}
	}
	if typ == "" {
		switch {
		case len(s.Properties) > 0 || len(s.Required) > 0:
			typ = openapi3.TypeObject
		case s.Items != nil:
			typ = openapi3.TypeArray
		default:
			return "x", s.Pattern == "" && s.MinLength <= 1 && s.Format == ""
		}
	}
	switch typ {
	case openapi3.TypeString:
		return genString(s)
	case openapi3.TypeInteger, openapi3.TypeNumber:
		return genNumber(s, typ == openapi3.TypeInteger)
	case openapi3.TypeBoolean:
		return true, true
	case openapi3.TypeArray:
		n := max(int(s.MinItems), 1)
		if s.MaxItems != nil && uint64(n) > *s.MaxItems {
			n = int(*s.MaxItems)
		}
		if n > 1 && s.UniqueItems {
			return nil, false
		}
		var item *openapi3.Schema
		if s.Items != nil {
			item = s.Items.Value
		}
		arr := make([]any, n)
		for i := range arr {
			v, ok := genValue(item, depth+1)
			if !ok {
				return nil, false
			}
			arr[i] = v
		}
		return arr, true
	case openapi3.TypeObject:
		return genObject(s, nil, depth)
	}
	return nil, false
}

func genObject(s *openapi3.Schema, into map[string]any, depth int) (any, bool) {
	obj := into
	if obj == nil {
		obj = map[string]any{}
	}
	for _, name := range s.Required {
		ps := s.Properties[name]
		var v any
		var ok bool
		switch {
		case ps != nil && ps.Value != nil && ps.Value.ReadOnly:
			continue
		case ps != nil:
			v, ok = genValue(ps.Value, depth+1)
		case s.AdditionalProperties.Schema != nil:
			v, ok = genValue(s.AdditionalProperties.Schema.Value, depth+1)
		default:
			v, ok = "x", true
		}
		if !ok {
			return nil, false
		}
		obj[name] = v
	}
	if uint64(len(obj)) < s.MinProps {
		return nil, false
	}
	return obj, true
}

// genAllOf generates an object satisfying every member of an allOf of
// object schemas: their properties and required names merged.
func genAllOf(s *openapi3.Schema, depth int) (any, bool) {
	merged := &openapi3.Schema{Properties: openapi3.Schemas{}}
	var merge func(x *openapi3.Schema, d int) bool
	merge = func(x *openapi3.Schema, d int) bool {
		if d > 12 || x.Not != nil || len(x.OneOf)+len(x.AnyOf) > 0 || x.AdditionalProperties.Has != nil && !*x.AdditionalProperties.Has {
			return false
		}
		if x.Type != nil && !x.Type.IsEmpty() && !x.Type.Includes(openapi3.TypeObject) {
			return false
		}
		for _, m := range x.AllOf {
			if m == nil || m.Value == nil || !merge(m.Value, d+1) {
				return false
			}
		}
		for k, v := range x.Properties {
			if _, ok := merged.Properties[k]; !ok {
				merged.Properties[k] = v
			}
		}
		merged.Required = append(merged.Required, x.Required...)
		merged.MinProps = max(merged.MinProps, x.MinProps)
		return true
	}
	if !merge(s, depth) {
		return nil, false
	}
	return genObject(merged, nil, depth)
}

// genBranch generates a value for the first branch of a oneOf or anyOf,
// setting the discriminator to the value that selects it.
func genBranch(s *openapi3.Schema, depth int) (any, bool) {
	branches := s.OneOf
	if len(branches) == 0 {
		branches = s.AnyOf
	}
	if len(s.AllOf) > 0 || len(s.Properties) > 0 || s.Discriminator == nil && len(s.OneOf) > 1 {
		return nil, false
	}
	b := branches[0]
	if b == nil || b.Value == nil {
		return nil, false
	}
	v, ok := genValue(b.Value, depth+1)
	if !ok || s.Discriminator == nil {
		return v, ok
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		return nil, false
	}
	d := s.Discriminator
	key := ""
	for k, m := range d.Mapping {
		ref := m.Ref
		if !strings.Contains(ref, "/") {
			ref = "#/components/schemas/" + ref
		}
		if ref == b.Ref && (key == "" || k < key) {
			key = k
		}
	}
	if key == "" {
		return nil, false
	}
	obj[d.PropertyName] = key
	return obj, true
}

func genString(s *openapi3.Schema) (any, bool) {
	str := "x"
	switch s.Format {
	case "":
	case "date":
		str = "2024-01-02"
	case "date-time":
		str = "2024-01-02T03:04:05Z"
	case "uuid":
		str = "123e4567-e89b-12d3-a456-426614174000"
	case "email":
		str = "a@example.com"
	case "uri", "url":
		str = "https://example.com/x"
	case "ipv4":
		str = "192.0.2.1"
	case "ipv6":
		str = "2001:db8::1"
	case "hostname":
		str = "example.com"
	case "byte":
		str = "aGVsbG8="
	case "binary", "password", "int64", "int32", "decimal":
		if s.Format != "binary" && s.Format != "password" {
			str = "1"
		}
	default:
		return nil, false
	}
	if s.Pattern != "" {
		m, err := compilePattern(s.Pattern)
		if err != nil {
			return nil, false
		}
		cand := []any{s.Example}
		cand = append(cand, s.Examples...)
		found := false
		for _, c := range cand {
			if cs, ok := c.(string); ok && m.MatchString(cs) {
				str, found = cs, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	for uint64(len(str)) < s.MinLength {
		str += "x"
	}
	if s.MaxLength != nil && uint64(len(str)) > *s.MaxLength {
		return nil, false
	}
	return str, true
}

func genNumber(s *openapi3.Schema, integer bool) (any, bool) {
	x := 1.0
	lo, hi := math.Inf(-1), math.Inf(1)
	if s.Min != nil {
		lo = *s.Min
		if s.ExclusiveMin.IsTrue() {
			lo++
		}
	}
	if s.ExclusiveMin.Value != nil {
		lo = max(lo, *s.ExclusiveMin.Value+1)
	}
	if s.Max != nil {
		hi = *s.Max
		if s.ExclusiveMax.IsTrue() {
			hi--
		}
	}
	if s.ExclusiveMax.Value != nil {
		hi = min(hi, *s.ExclusiveMax.Value-1)
	}
	if x < lo {
		x = math.Ceil(lo)
	}
	if x > hi {
		x = math.Floor(hi)
	}
	if s.MultipleOf != nil && *s.MultipleOf > 0 {
		x = math.Ceil(x / *s.MultipleOf) * *s.MultipleOf
	}
	if x < lo || x > hi || integer && x != math.Trunc(x) {
		return nil, false
	}
	return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), true
}

// largestDocs are the corpus documents over 1 MB.
var largestDocs = []string{"openai.yaml.gz", "twilio-api-v2010.json.gz", "box.json.gz", "discord.json.gz"}

// BenchmarkCorpusLoad measures loading the largest corpus documents: time,
// allocation, and the heap the Validator keeps (heap-MB).
func BenchmarkCorpusLoad(b *testing.B) {
	for _, name := range largestDocs {
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
// mean per request.
func BenchmarkCorpusRequests(b *testing.B) {
	for _, name := range append([]string{"redocly-museum.yaml", "readme-31-train-travel.json", "readme-30-petstore.json"}, largestDocs...) {
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
		b.Run(name+"/gatekit-engine", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, g := range reqs {
					_, _ = v.ValidateRequest(g.build(), g.body)
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
				for _, g := range reqs {
					r := g.build()
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
