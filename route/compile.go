package route

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/pathcanon"
	"github.com/gatekit/gatekit/reqkey"
)

// standardMethods are the RFC 9110 methods, in the order Allow lists them.
func standardMethods() []string {
	return []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
}

func isStandardMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT":
		return true
	}
	return false
}

// checkMethod accepts standard methods and extension tokens that are not a
// case variant of a standard method.
func checkMethod(m string) error {
	if isStandardMethod(m) {
		return nil
	}
	if m == "" {
		return ErrBadMethod
	}
	for i := 0; i < len(m); i++ {
		if !header.IsTokenChar(m[i]) {
			return ErrBadMethod
		}
	}
	for _, s := range standardMethods() {
		if strings.EqualFold(m, s) {
			return ErrBadMethod
		}
	}
	return nil
}

// checkHost validates a configured host or wildcard.
func checkHost(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*/ \\@?#") {
		return fmt.Errorf("route: invalid host %q", h)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] >= 0x7f {
			return fmt.Errorf("route: host %q must be ASCII (use the xn-- form)", h)
		}
	}
	return nil
}

// crule is a compiled Rule.
type crule struct {
	idx      int
	name     string
	methods  []string // nil: the standard methods
	headers  []cpred
	query    []cpred
	cookies  []cpred
	body     []bodyPred
	priority int
	spec     int // number of conditions, for precedence
	handler  http.Handler
}

func (cr *crule) acceptsMethod(m string) bool {
	if cr.methods == nil {
		return isStandardMethod(m)
	}
	return slices.Contains(cr.methods, m)
}

// matches evaluates the predicates, cheapest first.
func (cr *crule) matches(r *http.Request, bs *bodyState, cfg *Config) bool {
	for i := range cr.headers {
		p := &cr.headers[i]
		vs := r.Header[p.name]
		if len(vs) == 0 {
			if !p.test("", false) {
				return false
			}
		} else if !p.test(vs[0], true) {
			return false
		}
	}
	for i := range cr.query {
		p := &cr.query[i]
		v, ok := reqkey.QueryValue(r.URL.RawQuery, p.name)
		if !p.test(v, ok) {
			return false
		}
	}
	for i := range cr.cookies {
		p := &cr.cookies[i]
		c, err := r.Cookie(p.name)
		if err != nil {
			if !p.test("", false) {
				return false
			}
		} else if !p.test(c.Value, true) {
			return false
		}
	}
	for i := range cr.body {
		if !cr.body[i].test(r, bs, cfg) {
			return false
		}
	}
	return true
}

// compile validates rules and builds an immutable snapshot.
func (t *Table) compile(rules []Rule) (s *snapshot, err error) {
	s = &snapshot{exact: map[string]*vhost{}, wild: map[string]*vhost{}}
	hostsOf := map[*vhost]bool{}
	newVhost := func() *vhost {
		v := &vhost{mux: chi.NewMux(), groups: map[string]*group{}}
		hostsOf[v] = true
		return v
	}
	defer func() {
		// chi panics on patterns it cannot parse; report them as errors.
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("route: invalid path pattern: %v", p)
		}
	}()
	endpoint := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for i := range rules {
		rl := &rules[i]
		cr, pattern, err := t.compileRule(i, rl)
		if err != nil {
			return nil, err
		}
		var targets []*vhost
		if len(rl.Hosts) == 0 {
			if s.any == nil {
				s.any = newVhost()
			}
			targets = append(targets, s.any)
		}
		for _, h := range rl.Hosts {
			if err := checkHost(h); err != nil {
				return nil, fmt.Errorf("route: rule %s: %w", cr.name, err)
			}
			m, key := s.exact, pathcanon.Host(h)
			if strings.HasPrefix(h, "*.") {
				m, key = s.wild, "."+pathcanon.Host(h[2:])
			}
			v := m[key]
			if v == nil {
				v = newVhost()
				m[key] = v
			}
			if !slices.Contains(targets, v) {
				targets = append(targets, v)
			}
		}
		for _, v := range targets {
			g := v.groups[pattern.text]
			if g == nil {
				g = &group{pat: pattern}
				v.groups[pattern.text] = g
				v.order = append(v.order, g)
				v.mux.Handle(pattern.text, endpoint)
			}
			g.rules = append(g.rules, cr)
		}
	}
	for v := range hostsOf {
		slices.SortFunc(v.order, func(a, b *group) int { return lessSpecific(a.pat, b.pat) })
		for _, g := range v.groups {
			sort.SliceStable(g.rules, func(a, b int) bool {
				ra, rb := g.rules[a], g.rules[b]
				if ra.priority != rb.priority {
					return ra.priority > rb.priority
				}
				if ra.spec != rb.spec {
					return ra.spec > rb.spec
				}
				return ra.idx < rb.idx
			})
			g.allow = allowOf(g.rules)
		}
	}
	if h := t.cfg.DefaultHost; h != "" {
		if s.any != nil {
			return nil, fmt.Errorf("route: default host %q would never be used: a rule with empty Hosts serves every host no rule names", h)
		}
		if s.def = s.lookup(h); s.def == nil {
			return nil, fmt.Errorf("route: default host %q is not served by any rule", h)
		}
	}
	return s, nil
}

// allowOf lists the methods accepted by rules: standard ones in a fixed
// order, then extension methods sorted.
func allowOf(rules []*crule) []string {
	set := map[string]bool{}
	for _, cr := range rules {
		if cr.methods == nil {
			for _, m := range standardMethods() {
				set[m] = true
			}
		}
		for _, m := range cr.methods {
			set[m] = true
		}
	}
	var out, ext []string
	for _, m := range standardMethods() {
		if set[m] {
			out = append(out, m)
			delete(set, m)
		}
	}
	for m := range set {
		ext = append(ext, m)
	}
	sort.Strings(ext)
	return append(out, ext...)
}

func (t *Table) compileRule(i int, rl *Rule) (*crule, *pattern, error) {
	cr := &crule{idx: i, name: cmp.Or(rl.Name, "#"+strconv.Itoa(i)), priority: rl.Priority}
	fail := func(format string, a ...any) (*crule, *pattern, error) {
		return nil, nil, fmt.Errorf("route: rule %s: "+format, append([]any{cr.name}, a...)...)
	}
	text := cmp.Or(rl.Path, "/*")
	pattern, err := parsePattern(text)
	if err != nil {
		return fail("path %q: %w", text, err)
	}
	if lit := literalText(text); t.cfg.Path.CaseInsensitive && strings.ToLower(lit) != lit {
		return fail("path %q: literal segments must be lower case in a table with Config.Path.CaseInsensitive", text)
	} else if t.cfg.Path.Params != pathcanon.KeepParams && strings.Contains(lit, ";") {
		return fail("path %q: ';' cannot match in a table that rejects or strips path parameters", text)
	}
	for _, m := range rl.Methods {
		if m == "" || checkMethod(m) != nil {
			return fail("invalid or non-canonical method %q", m)
		}
		if !slices.Contains(cr.methods, m) {
			cr.methods = append(cr.methods, m)
		}
	}
	if len(cr.methods) > 0 {
		cr.spec++
	}
	if cr.headers, err = compilePreds(rl.Headers, "header"); err != nil {
		return fail("%w", err)
	}
	for j := range cr.headers {
		cr.headers[j].name = http.CanonicalHeaderKey(cr.headers[j].name)
		if cr.headers[j].name == "Host" {
			return fail("the Host header cannot be a predicate (net/http moves it to r.Host); use Hosts")
		}
	}
	if cr.query, err = compilePreds(rl.Query, "query"); err != nil {
		return fail("%w", err)
	}
	if cr.cookies, err = compilePreds(rl.Cookies, "cookie"); err != nil {
		return fail("%w", err)
	}
	for _, p := range rl.Body {
		bp, err := compileBodyPred(p)
		if err != nil {
			return fail("%w", err)
		}
		cr.body = append(cr.body, bp)
	}
	cr.spec += len(cr.headers) + len(cr.query) + len(cr.cookies) + len(cr.body)
	if cr.handler, err = t.buildHandler(rl); err != nil {
		return fail("%w", err)
	}
	return cr, pattern, nil
}

// cpred is a compiled header, query or cookie Predicate.
type cpred struct {
	name   string
	op     Op
	value  string
	values []string
	fold   bool // IgnoreCase
	re     *regexp.Regexp
}

func compilePreds(ps []Predicate, kind string) ([]cpred, error) {
	var out []cpred
	for _, p := range ps {
		if p.Name == "" {
			return nil, fmt.Errorf("%s predicate without a name", kind)
		}
		cp, err := compilePred(p)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, p.Name, err)
		}
		out = append(out, cp)
	}
	return out, nil
}

func compilePred(p Predicate) (cpred, error) {
	cp := cpred{name: p.Name, op: p.Op, value: p.Value, values: slices.Clone(p.Values), fold: p.IgnoreCase}
	switch p.Op {
	case Equals, Present, Absent:
	case OneOf:
		if len(p.Values) == 0 {
			return cp, fmt.Errorf("OneOf needs Values")
		}
	case Regex:
		if len(p.Value) > MaxRegexLen {
			return cp, fmt.Errorf("regular expression longer than %d bytes", MaxRegexLen)
		}
		expr := p.Value
		if p.IgnoreCase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return cp, err
		}
		cp.re = re
	default:
		return cp, fmt.Errorf("unknown Op %d", p.Op)
	}
	return cp, nil
}

// test reports whether the predicate holds for a value, ok being whether
// the value is present.
func (p *cpred) test(v string, ok bool) bool {
	switch p.op {
	case Present:
		return ok
	case Absent:
		return !ok
	case OneOf:
		if p.fold {
			return ok && slices.ContainsFunc(p.values, func(s string) bool { return strings.EqualFold(s, v) })
		}
		return ok && slices.Contains(p.values, v)
	case Regex:
		return ok && p.re.MatchString(v)
	}
	if p.fold {
		return ok && strings.EqualFold(v, p.value)
	}
	return ok && v == p.value
}

// literalText returns the parts of a pattern outside {parameters}.
func literalText(p string) string {
	var sb strings.Builder
	depth := 0
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '{':
			depth++
		case p[i] == '}' && depth > 0:
			depth--
		case depth == 0:
			sb.WriteByte(p[i])
		}
	}
	return sb.String()
}
