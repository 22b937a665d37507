package validate

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// A pathTable finds the path template a request path belongs to. It is
// compiled once, when a Validator is built, and then only read: lookups take
// no lock and do not allocate unless a path parameter needs unescaping.
//
// Templates are split on "/" into segments. A segment is either a literal or
// a sequence of literals and {param} placeholders ("{id}", "{id}.json",
// "v{major}.{minor}"). Literal segments win over templated ones, and among
// templated segments the one with more literal bytes is tried first, so
// "/books/{id}.json" is preferred to "/books/{id}" for "/books/7.json".
type pathTable struct {
	root node
	// exact holds the templates without parameters by their path: one
	// lookup instead of one per segment, with the same answer, since the
	// tree prefers a literal segment at every level. Templates with a '%'
	// are left out (the tree unescapes request segments before comparing).
	exact map[string]*pathEntry
}

// empty reports whether t has no paths.
func (t *pathTable) empty() bool {
	return t.root.entry == nil && len(t.root.static) == 0 && len(t.root.params) == 0
}

// pathValues are the values of a request's path parameters, in the order
// of names (those of the template it matched, not to be modified): a few,
// so looked up in a slice rather than a map.
type pathValues struct {
	names []string
	vals  []string
}

// get returns the value of the path parameter name.
func (pv pathValues) get(name string) (string, bool) {
	for i, n := range pv.names {
		if n == name && i < len(pv.vals) {
			return pv.vals[i], true
		}
	}
	return "", false
}

// asMap returns the values as kin-openapi takes them (nil for none).
func (pv pathValues) asMap() map[string]string {
	if len(pv.vals) == 0 {
		return nil
	}
	m := make(map[string]string, len(pv.vals))
	for i, v := range pv.vals {
		m[pv.names[i]] = v
	}
	return m
}

type node struct {
	static map[string]*node
	params []*paramEdge
	entry  *pathEntry
}

type segPart struct {
	lit   string // a literal, or "" for a parameter
	param string // the parameter name when lit == ""
}

type paramEdge struct {
	parts   []segPart
	litLen  int
	next    *node
	pattern string
}

// pathEntry is one path template and the values attached to it.
type pathEntry struct {
	template string
	names    []string              // parameter names in the order their values appear
	methods  map[string]*operation // set with setOperation
	byMethod [8]*operation         // methods' operations of the methods methodIndex numbers
	allow    []string              // sorted methods, for 405 Allow
	rules    []*compiledRule
}

// setOperation attaches o to e for method.
func (e *pathEntry) setOperation(method string, o *operation) {
	e.methods[method] = o
	if i := methodIndex(method); i >= 0 {
		e.byMethod[i] = o
	}
}

// operation returns the operation of method, or nil: the methods OpenAPI
// names from an array, without hashing the method per request.
func (e *pathEntry) operation(method string) *operation {
	if i := methodIndex(method); i >= 0 {
		return e.byMethod[i]
	}
	return e.methods[method]
}

// methodIndex numbers the 8 methods an OpenAPI path item can hold; -1 for
// any other.
func methodIndex(method string) int {
	switch method {
	case http.MethodGet:
		return 0
	case http.MethodPost:
		return 1
	case http.MethodPut:
		return 2
	case http.MethodDelete:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodHead:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodTrace:
		return 7
	}
	return -1
}

// splitTemplate parses an OpenAPI path template into segment parts.
func splitTemplate(tmpl string) ([][]segPart, []string, error) {
	if !strings.HasPrefix(tmpl, "/") {
		return nil, nil, fmt.Errorf("path %q does not start with /", tmpl)
	}
	var segs [][]segPart
	var names []string
	for _, s := range strings.Split(tmpl[1:], "/") {
		var parts []segPart
		for s != "" {
			open := strings.IndexByte(s, '{')
			if open < 0 {
				if strings.IndexByte(s, '}') >= 0 {
					return nil, nil, fmt.Errorf("path %q: unbalanced }", tmpl)
				}
				parts = append(parts, segPart{lit: s})
				break
			}
			if open > 0 {
				if strings.IndexByte(s[:open], '}') >= 0 {
					return nil, nil, fmt.Errorf("path %q: unbalanced }", tmpl)
				}
				parts = append(parts, segPart{lit: s[:open]})
			}
			end := strings.IndexByte(s[open:], '}')
			if end < 0 {
				return nil, nil, fmt.Errorf("path %q: unbalanced {", tmpl)
			}
			name := s[open+1 : open+end]
			if name == "" || strings.ContainsAny(name, "{/") {
				return nil, nil, fmt.Errorf("path %q: bad parameter name %q", tmpl, name)
			}
			if len(parts) > 0 && parts[len(parts)-1].lit == "" {
				return nil, nil, fmt.Errorf("path %q: adjacent parameters cannot be told apart", tmpl)
			}
			parts = append(parts, segPart{param: name})
			names = append(names, name)
			s = s[open+end+1:]
		}
		if len(parts) == 0 {
			parts = []segPart{{lit: ""}}
		}
		segs = append(segs, parts)
	}
	return segs, names, nil
}

// add inserts tmpl and returns its entry (the existing one if tmpl, or a
// template differing only in parameter names, was added before).
func (t *pathTable) add(tmpl string) (*pathEntry, error) {
	segs, names, err := splitTemplate(tmpl)
	if err != nil {
		return nil, err
	}
	n := &t.root
	for _, parts := range segs {
		if len(parts) == 1 && parts[0].param == "" {
			if n.static == nil {
				n.static = make(map[string]*node)
			}
			child := n.static[parts[0].lit]
			if child == nil {
				child = &node{}
				n.static[parts[0].lit] = child
			}
			n = child
			continue
		}
		pattern, litLen := "", 0
		for _, p := range parts {
			if p.param != "" {
				pattern += "{}"
			} else {
				pattern += p.lit
				litLen += len(p.lit)
			}
		}
		var edge *paramEdge
		for _, e := range n.params {
			if e.pattern == pattern {
				edge = e
				break
			}
		}
		if edge == nil {
			edge = &paramEdge{parts: parts, litLen: litLen, next: &node{}, pattern: pattern}
			n.params = append(n.params, edge)
			sort.SliceStable(n.params, func(i, j int) bool { return n.params[i].litLen > n.params[j].litLen })
		}
		n = edge.next
	}
	if n.entry == nil {
		n.entry = &pathEntry{template: tmpl, names: names, methods: make(map[string]*operation)}
	}
	if len(names) == 0 && !strings.Contains(tmpl, "%") {
		if t.exact == nil {
			t.exact = make(map[string]*pathEntry)
		}
		t.exact[tmpl] = n.entry
	}
	return n.entry, nil
}

// lookup returns the entry for path (an escaped or plain URL path starting
// with "/") and appends the raw parameter values to vals.
func (t *pathTable) lookup(path string, vals []string) (*pathEntry, []string) {
	if len(path) == 0 || path[0] != '/' {
		return nil, vals
	}
	if e := t.exact[path]; e != nil {
		return e, vals
	}
	return t.root.match(path[1:], vals)
}

func (n *node) match(rest string, vals []string) (*pathEntry, []string) {
	seg, tail, more := rest, "", false
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg, tail, more = rest[:i], rest[i+1:], true
	}
	if n.static != nil {
		key := seg
		if strings.IndexByte(seg, '%') >= 0 {
			if u, err := url.PathUnescape(seg); err == nil {
				key = u
			}
		}
		if child := n.static[key]; child != nil {
			if !more {
				if child.entry != nil {
					return child.entry, vals
				}
			} else if e, v := child.match(tail, vals); e != nil {
				return e, v
			}
		}
	}
	for _, edge := range n.params {
		mark := len(vals)
		v, ok := edge.matchSegment(seg, vals)
		if !ok {
			continue
		}
		if !more {
			if edge.next.entry != nil {
				return edge.next.entry, v
			}
		} else if e, v2 := edge.next.match(tail, v); e != nil {
			return e, v2
		}
		vals = v[:mark]
	}
	return nil, vals
}

// matchSegment matches one templated segment. Each parameter takes the
// shortest non-empty run of bytes before the next literal; a trailing
// literal must end the segment.
func (e *paramEdge) matchSegment(seg string, vals []string) ([]string, bool) {
	mark := len(vals)
	pos := 0
	for i, p := range e.parts {
		if p.param == "" {
			if !strings.HasPrefix(seg[pos:], p.lit) {
				return vals[:mark], false
			}
			pos += len(p.lit)
			continue
		}
		var end int
		switch {
		case i == len(e.parts)-1:
			end = len(seg)
		case i == len(e.parts)-2:
			lit := e.parts[i+1].lit
			if !strings.HasSuffix(seg, lit) || len(seg)-len(lit) <= pos {
				return vals[:mark], false
			}
			end = len(seg) - len(lit)
		default:
			if pos+1 > len(seg) {
				return vals[:mark], false
			}
			idx := strings.Index(seg[pos+1:], e.parts[i+1].lit)
			if idx < 0 {
				return vals[:mark], false
			}
			end = pos + 1 + idx
		}
		if end <= pos {
			return vals[:mark], false
		}
		vals = append(vals, seg[pos:end])
		pos = end
	}
	if pos != len(seg) {
		return vals[:mark], false
	}
	return vals, true
}

// cleanBasePaths normalises prefixes ("/v1/" -> "/v1"), drops "" and "/",
// and sorts them longest first.
func cleanBasePaths(in []string) []string {
	var out []string
	for _, p := range in {
		p = strings.TrimRight(p, "/")
		if p == "" {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
