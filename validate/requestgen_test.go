package validate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Generation of requests from an operation's schemas, for TestCorpus: a
// value is generated only when the generator can be sure the schema
// accepts it, and the operation is skipped otherwise.

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
