package route

import (
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/gatekit/gatekit/pathcanon"
)

// Errors returned by Table.Match and passed to Config.ErrorHandler.
var (
	// ErrNotFound means no rule matches the request (404).
	ErrNotFound = errors.New("route: no route matches the request")
	// ErrMisdirected means no rule serves the request's host and there is
	// no default host (421).
	ErrMisdirected = errors.New("route: no route serves this host")
	// ErrBadMethod means the method is not a token or is a non-canonical
	// spelling of a standard method, such as "get" (400).
	ErrBadMethod = errors.New("route: invalid or non-canonical method")
)

// MethodError means rules match the request's host and path but none
// accepts its method (405).
type MethodError struct {
	// Allow lists the methods the matching rules accept, for the Allow header.
	Allow []string
}

// Error implements error.
func (e *MethodError) Error() string { return "route: method not allowed" }

// StatusOf returns the HTTP status for an error returned by Table.Match:
// 400, 404, 405 or 421, and 500 for anything else.
func StatusOf(err error) int {
	var me *MethodError
	switch {
	case errors.As(err, &me):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMisdirected):
		return http.StatusMisdirectedRequest
	case errors.Is(err, pathcanon.ErrBadPath), errors.Is(err, ErrBadMethod):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// Match is the outcome of routing one request.
type Match struct {
	// Rule is the index of the matched rule in the slice given to New or Swap.
	Rule int
	// Name is the matched rule's Name ("#<index>" if it had none).
	Name string
	// Pattern is the chi path pattern that matched.
	Pattern string
	// Host is the canonical request host (pathcanon.Host).
	Host string
	// Path is the canonical escaped path that was matched. The rule's
	// middleware sees it as r.URL.RawPath (and its decoding as r.URL.Path);
	// the handler sees it too unless Rule.Rewrite changes it.
	Path string
	// Params are the path parameters in pattern order, each decoded once
	// from the canonical path. ServeHTTP also sets them with
	// http.Request.SetPathValue.
	Params []Param
	// Backend is the name of the Split backend chosen, once the split has
	// run (ServeHTTP only); empty for rules without Split.
	Backend string

	h http.Handler
}

// Param is one path parameter.
type Param struct {
	Name  string // the parameter name; "*" for a trailing wildcard
	Value string // the decoded value
}

// Match routes r without serving it: it returns the chosen rule and the
// canonical host, path and parameters, or an error for which StatusOf gives
// the response status. It reads only r.Method, r.Host, r.URL, r.Header and,
// when a candidate rule has Body predicates, up to Config.MaxBodyInspect
// bytes of r.Body; in that case r.Body is replaced by a reader that yields
// exactly the original bytes (r.ContentLength is unchanged, and r.GetBody is
// set when the whole body was read).
func (t *Table) Match(r *http.Request) (Match, error) {
	var bs bodyState
	m, err := t.match(r, &bs)
	if bs.read {
		bs.restore(r)
	}
	return m, err
}

func (t *Table) match(r *http.Request, bs *bodyState) (Match, error) {
	if err := checkMethod(r.Method); err != nil {
		return Match{}, err
	}
	if r.URL == nil || r.URL.Opaque != "" {
		return Match{}, pathcanon.ErrNotAbsolute
	}
	host := pathcanon.Host(r.Host)
	path, err := t.cfg.Path.Canonical(r.URL.EscapedPath())
	if err != nil {
		return Match{}, err
	}
	s := t.snap.Load()
	vh := s.lookup(host)
	if vh == nil {
		return Match{}, ErrMisdirected
	}
	rctx := t.rctx.Get().(*chi.Context)
	rctx.Reset()
	defer t.rctx.Put(rctx)
	pattern := vh.mux.Find(rctx, http.MethodGet, path)
	g := vh.groups[pattern]
	if pattern == "" || g == nil {
		return Match{}, ErrNotFound
	}
	cr, methodOK := g.pick(r, bs, &t.cfg)
	if cr != nil {
		m := Match{Rule: cr.idx, Name: cr.name, Pattern: pattern, Host: host, Path: path, h: cr.handler}
		if n := len(rctx.URLParams.Keys); n > 0 {
			m.Params = make([]Param, n)
			for i, k := range rctx.URLParams.Keys {
				m.Params[i] = Param{Name: k, Value: decodeParam(rctx.URLParams.Values[i])}
			}
		}
		return m, nil
	}
	// No rule of the most specific pattern serves r: try the less specific
	// patterns that match the path, in order of specificity.
	var tried []*group
	if !methodOK {
		tried = append(tried, g)
	}
	for _, fg := range vh.fallbacksOf(g) {
		params, ok := fg.pat.match(path, nil)
		if !ok {
			continue
		}
		cr, mok := fg.pick(r, bs, &t.cfg)
		if cr != nil {
			for i := range params {
				params[i].Value = decodeParam(params[i].Value)
			}
			return Match{Rule: cr.idx, Name: cr.name, Pattern: fg.pat.text, Host: host, Path: path, Params: params, h: cr.handler}, nil
		}
		if mok {
			methodOK = true
		} else {
			tried = append(tried, fg)
		}
	}
	if !methodOK {
		if len(tried) == 1 {
			return Match{}, &MethodError{Allow: g.allow}
		}
		var rules []*crule
		for _, tg := range tried {
			rules = append(rules, tg.rules...)
		}
		return Match{}, &MethodError{Allow: allowOf(rules)}
	}
	return Match{}, ErrNotFound
}

// decodeParam decodes a parameter taken from a canonical path.
func decodeParam(v string) string {
	if d, err := url.PathUnescape(v); err == nil {
		return d
	}
	return v
}

// snapshot is one immutable compiled version of the rules.
type snapshot struct {
	exact map[string]*vhost // canonical host -> rules naming it
	wild  map[string]*vhost // ".example.com" -> rules naming *.example.com
	any   *vhost            // rules with empty Hosts
	def   *vhost            // Config.DefaultHost's rules
}

// lookup returns the host group serving host, or nil.
func (s *snapshot) lookup(host string) *vhost {
	if v, ok := s.exact[host]; ok {
		return v
	}
	if len(s.wild) > 0 {
		for i := 0; i < len(host); i++ {
			if host[i] == '.' && i > 0 {
				if v, ok := s.wild[host[i:]]; ok {
					return v
				}
			}
		}
	}
	if s.any != nil {
		return s.any
	}
	return s.def
}

// vhost holds the rules of one host group.
type vhost struct {
	mux    *chi.Mux
	groups map[string]*group // chi pattern -> rules
	order  []*group          // by specificity, most specific first
}

// group is the rules sharing one pattern in one host group, in precedence order.
type group struct {
	pat   *pattern
	rules []*crule
	allow []string
	// fallbacks are the less specific groups whose patterns may match a
	// path this group's pattern matches, computed on first use.
	fallbacks atomic.Pointer[[]*group]
}

// fallbacksOf returns g's fallback groups, computing them once.
func (vh *vhost) fallbacksOf(g *group) []*group {
	if fb := g.fallbacks.Load(); fb != nil {
		return *fb
	}
	fb := []*group{}
	for _, q := range vh.order {
		if q != g && lessSpecific(q.pat, g.pat) > 0 && g.pat.mayOverlap(q.pat) {
			fb = append(fb, q)
		}
	}
	g.fallbacks.Store(&fb)
	return fb
}

// pick returns the first rule of g that accepts r, and whether any rule
// accepted the method.
func (g *group) pick(r *http.Request, bs *bodyState, cfg *Config) (*crule, bool) {
	methodOK := false
	for _, cr := range g.rules {
		if !cr.acceptsMethod(r.Method) {
			continue
		}
		methodOK = true
		if cr.matches(r, bs, cfg) {
			return cr, true
		}
	}
	return nil, methodOK
}
