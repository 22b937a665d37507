package route

import (
	"net/http"
	"time"

	"github.com/gatekit/gatekit/pathcanon"
)

// Rule is one route: the conditions a request must meet and what then
// handles it. A Rule is plain data; New copies what it needs, so the caller
// may reuse the slice afterwards. See the package documentation for the
// precedence between rules.
type Rule struct {
	// Name identifies the rule in Match results, logs and metrics. Optional;
	// if empty, the rule's index in the slice is used ("#3").
	Name string
	// Hosts are the hosts the rule serves: exact names ("api.example.com")
	// or wildcards ("*.example.com", which matches one or more labels in
	// front of example.com but not example.com itself). They are compared
	// after pathcanon.Host. Empty means every host not claimed by another
	// rule's Hosts.
	Hosts []string
	// Path is a chi pattern matched against the canonical escaped path:
	// "/users" (exact), "/users/{id}" (a parameter, one non-empty segment),
	// "/users/{id:[0-9]+}" (an RE2-constrained parameter, anchored),
	// "/static/*" (everything below /static/, not /static itself).
	// Parameters fill whole segments; literal segments must be canonical
	// (see pathcanon.Path and ParsePattern); in a table with
	// Config.Path.CaseInsensitive they must be lower case. Empty means "/*", every path.
	Path string
	// Methods the rule accepts, case-sensitively ("GET", not "get").
	// Empty means the nine RFC 9110 methods; extension methods match only
	// rules that list them. A HEAD request does not match a rule that lists
	// only GET.
	Methods []string
	// Headers are predicates on request headers that must all hold. Names
	// are canonicalised; the Host header cannot be used (use Hosts).
	Headers []Predicate
	// Query are predicates on query parameters that must all hold, read
	// from the raw query as url.ParseQuery reads it.
	Query []Predicate
	// Cookies are predicates on request cookies that must all hold.
	Cookies []Predicate
	// Body predicates match fields of a JSON request body selected by JSON
	// pointer (RFC 6901) in Predicate.Name. They are evaluated last, and the
	// body is read at most once per request (Config.MaxBodyInspect) and
	// restored byte for byte. If the body is not one valid JSON value within
	// MaxBodyInspect and Config.MaxJSONDepth, or an object on the pointer's
	// path has the key twice (also ignoring case, which encoding/json would
	// resolve differently), every Body predicate is false, Absent included.
	Body []Predicate
	// Priority orders rules that share a host group and a path pattern;
	// higher first. Default 0. It does not order different patterns.
	Priority int

	// Middleware wraps the rule's handler, outermost first. The chain is
	// built once by New and Swap, never per request. Middleware sees the
	// canonical matched path; rewrites apply after it.
	Middleware []func(http.Handler) http.Handler
	// Handler serves matched requests. Exactly one of Handler, Split and
	// Redirect must be set.
	Handler http.Handler
	// Split divides matched requests between handlers by weight (canary).
	Split []Backend
	// SplitKey returns the key that keeps a client on one backend of Split:
	// requests with equal keys go to the same backend while the weights do
	// not change. Nil or an empty key picks at random per request.
	// reqkey.ClientIP is a ready-made key. A backend whose Handler
	// implements Availability and reports false is skipped while another
	// can serve. New refuses SplitKey and SplitHeader on a rule without
	// Split.
	SplitKey func(r *http.Request) string
	// SplitHeader, if set, is a response header that names the Split
	// backend that served the request (its Backend.Name), for operators
	// watching a canary. It is off by default: backend names may say more
	// about the deployment than clients should know.
	SplitHeader string
	// Redirect answers matched requests with a redirect.
	Redirect *Redirect
	// Rewrite changes the request after Middleware, before Handler or Split.
	Rewrite *Rewrite
	// Mirror sends a copy of each matched request to a second handler.
	Mirror *Mirror
}

// Op is the comparison a Predicate makes.
type Op int

// Predicate operations.
const (
	// Equals holds when the value equals Predicate.Value exactly. It is the
	// zero Op.
	Equals Op = iota
	// OneOf holds when the value equals one of Predicate.Values.
	OneOf
	// Present holds when the value is present, whatever it is.
	Present
	// Absent holds when the value is absent.
	Absent
	// Regex holds when the value matches the RE2 expression in
	// Predicate.Value (unanchored; use ^...$ to anchor). The expression is
	// at most MaxRegexLen bytes and compiled once by New.
	Regex
)

// MaxRegexLen is the longest regular expression, in bytes, a Predicate or
// path parameter may use.
const MaxRegexLen = 1024

// Predicate is one condition on a request header, query parameter, cookie
// or JSON body field.
//
// The value compared is the first one: the first header line
// (http.Header.Get), the first query parameter of that name (query split on
// '&' only, like url.Values.Get), the first cookie of that name
// (http.Request.Cookie). For a body field, a JSON string is compared by its
// decoded value, a number, true, false or null by its literal text ("42",
// "1.5e3", "true"); objects and arrays satisfy only Present.
type Predicate struct {
	// Name is the header name, query parameter, cookie name or JSON pointer.
	Name string
	// Op is the comparison; the zero value is Equals.
	Op Op
	// Value is compared by Equals, or is the pattern for Regex.
	Value string
	// Values are compared by OneOf.
	Values []string
	// IgnoreCase compares Equals and OneOf values with Unicode case
	// folding (strings.EqualFold) and makes a Regex case-insensitive, for
	// values whose case clients do not agree on ("Beta", "beta"). Off by
	// default: values compare byte for byte.
	IgnoreCase bool
}

// Backend is one weighted handler of a Rule.Split.
type Backend struct {
	// Name identifies the backend in Match.Backend. Optional; default "#i".
	Name string
	// Weight is the relative share of requests, at least 0. A zero weight
	// receives no traffic; at least one backend must have a positive weight.
	Weight int
	// Handler serves the requests sent to this backend.
	Handler http.Handler
}

// Rewrite changes a matched request before its handler. Path changes apply
// in order: ReplacePath, then StripPrefix, then AddPrefix, and the result is
// canonicalised again; the upstream receives that form in both URL.Path and
// URL.RawPath.
type Rewrite struct {
	// ReplacePath replaces the whole path. It must be canonical.
	ReplacePath string
	// StripPrefix removes this prefix when the path starts with it at a
	// segment boundary ("/api" strips "/api/x" to "/x" and "/api" to "/").
	StripPrefix string
	// AddPrefix is prepended to the path. It must be canonical and must not
	// end with '/'.
	AddPrefix string
	// Host replaces the request's Host (r.Host) sent upstream.
	Host string
	// SetHeaders sets request headers, replacing existing values.
	SetHeaders map[string]string
	// RemoveHeaders deletes request headers.
	RemoveHeaders []string
}

// Redirect answers a request with a redirect built from the request and
// these fields. Any empty field keeps the request's own value.
type Redirect struct {
	// Scheme is "http" or "https". Default: the request's scheme.
	Scheme string
	// Host is the target host, with an optional port. Default: r.Host.
	Host string
	// Path is the target path. It must be canonical. Default: the canonical
	// request path.
	Path string
	// StripQuery drops the query string; by default it is kept.
	StripQuery bool
	// Status is 301, 302, 303, 307 or 308. Default 302.
	Status int
}

// Mirror copies matched requests to a second handler (shadow traffic). The
// copy runs in its own goroutine with its own response writer, header map,
// body and context; its response, errors, panics and duration never affect
// the client's response. Mirrors are bounded by Config.MaxMirrors and stop
// when the Table is closed.
type Mirror struct {
	// Handler receives the copies.
	Handler http.Handler
	// MaxBody is the largest request body, in bytes, that is copied; a
	// request with a larger (or unknown and larger) body is not mirrored.
	// Default 64 KiB. Up to MaxBody bytes are read before the primary
	// handler starts.
	MaxBody int64
	// Timeout bounds each mirrored request through its context. Default 10s.
	Timeout time.Duration
}

// Config configures a Table. The zero value of each field selects the
// default documented on it.
type Config struct {
	// Path selects the canonical path rules of the table (see
	// pathcanon.Options: case folding, ';' path parameters and the Insecure
	// relaxations); the zero value is strict and keeps case and path
	// parameters. Turn on CaseInsensitive and RejectParams or StripParams
	// when backends match paths case-insensitively or strip path
	// parameters, or a variant such as "/API/users" or "/api;x=1/users"
	// skips the middleware of the rule for "/api/*" and still reaches the
	// backend's handler for /api/users.
	Path pathcanon.Options
	// DefaultHost is the host whose rules serve requests for hosts that no
	// rule names. New and Swap refuse it when a rule has empty Hosts (that
	// rule serves those requests) or no rule serves it. If empty, such
	// requests get 421 Misdirected Request.
	DefaultHost string
	// MaxBodyInspect is the most body bytes, in bytes, read to evaluate Body
	// predicates. A larger body makes every Body predicate false. Default
	// 64 KiB.
	MaxBodyInspect int64
	// MaxJSONDepth is the deepest nesting of a JSON body that Body
	// predicates accept; deeper bodies make them false. Default 64.
	MaxJSONDepth int
	// MaxMirrors bounds the mirrored requests in flight across the table;
	// further copies are dropped and counted in Stats. Default 64.
	MaxMirrors int
	// ErrorHandler writes the response when no rule serves a request; err
	// matches ErrNotFound, ErrMisdirected, ErrBadMethod or
	// pathcanon.ErrBadPath, or is a *MethodError (errors.Is / errors.As). If nil, a problem+json
	// response with the status of StatusOf(err) is written, with Allow on
	// 405.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}
