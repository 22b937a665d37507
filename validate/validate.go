// Package validate rejects requests that break an OpenAPI 3 document or
// spec-free rules before they reach a backend, answering RFC 9457
// problem+json that lists every failed field.
//
// A [Validator] is built once from an OpenAPI 3.0 or 3.1 document ([New],
// [Load], [LoadFile]) or from rules alone ([NewRules]). Operations are
// found through a table compiled at load time, not kin-openapi's
// per-request router scan. Bodies are size-capped, read once and forwarded
// byte for byte; JSON bodies pass a hardening parser (depth, members, string
// length, duplicate and case-variant keys, UTF-8) before schema validation;
// so do parameters declared with a JSON "content" and multipart parts whose
// Content-Type is JSON, before kin-openapi decodes them with encoding/json.
// Fields of application/x-www-form-urlencoded bodies are not JSON-decoded
// (kin-openapi reads them as strings and primitives) and get no such pass;
// fields their schema's properties do not declare, which kin-openapi
// drops, are judged by its additionalProperties (false refuses them, a
// schema validates them, absent lets them through).
// Parameter and body schemas are checked with github.com/getkin/kin-openapi.
//
// Typical use, in front of any http.Handler:
//
//	//go:embed openapi.yaml
//	var spec []byte
//
//	v, err := validate.Load(spec, validate.Config{
//		Authenticate: func(ctx context.Context, in *validate.AuthInput) error {
//			return checkKey(in.Request.Header.Get(in.Scheme.Name)) // nil, validate.ErrForbidden, or another error (401)
//		},
//	})
//	if err != nil {
//		return err
//	}
//	handler = validate.Middleware(v)(handler)
//
// Rejections are RFC 9457 problem+json: 400 with an "errors" list of
// {in, name, pointer, reason}, 401/403 from the security hook, 404/405 for
// paths and methods outside the spec (unless Config.PassThroughUnknown),
// 413 over the body limit, 415 for an unlisted Content-Type.
//
// Stricter than kin-openapi, which checks the first of repeated values: a
// parameter that is not a list by its serialisation (a query key, header
// line, cookie, deepObject key, form field or multipart part) given more
// than once gets 400, and so does a security credential given twice (401).
// A body with more than one Content-Type, or a JSON body whose charset is
// not utf-8, gets 415.
//
// Paths are matched in one canonical form (that of the route package):
// percent-encoded unreserved characters are decoded ("/v%31" is "/v1"), and
// paths with dot segments, empty segments ("//"), encoded slashes or
// backslashes, control characters, invalid UTF-8 or a ';' path parameter
// (outside the spec's matrix-style parameters) get 400, even with
// PassThroughUnknown, so that a spelling variant cannot skip a rule or the
// spec on a backend that would route it to the same resource. A trailing
// slash that no template has is ignored ("/upload/" is checked as
// "/upload"). The next handler receives the path in that canonical form
// (URL.RawPath the canonical escaped path, URL.Path its decoding), the form
// route.Table matches and passes on, so that validation, routing and the
// backend see one path. Matching is case-sensitive, as RFC 3986 paths are: "/Upload"
// does not get the rules of "/upload". In front of a backend that folds
// case, give the rule for each spelling the backend accepts, or fold the
// path before this middleware.
//
// Documents are checked at load, and every problem is reported at once in
// a [LoadError], one line each: a JSON pointer into the document and a
// reason. What never changes a verdict is accepted unless Config.Strict,
// meant for linting the document in CI: examples and defaults are not
// checked against their schemas, and keywords of the other OpenAPI
// version, unknown sibling keywords, an array schema without items and a
// name listed twice in required are listed in [Validator.Warnings]. With
// Config.SkipBrokenOperations, a document whose problems are confined to
// some operations loads without them ([Validator.Skipped]): their requests
// pass unvalidated, or with Config.RejectSkippedOperations get 500.
//
// Schemas are compiled once at load for the common keywords; kin-openapi
// judges what they do not cover and every rejection. A JSON body is judged
// by the compiled schema as it is parsed, and a plain urlencoded form as it
// is read, building no values; only what that pass is unsure of is parsed
// and judged in full. Patterns are ECMA-262
// regular expressions, as JSON Schema says (lookahead, backreferences);
// those Go's regexp cannot run exactly are run with a match timeout, a
// value whose match times out being rejected. A discriminator without a
// mapping selects the schema its value names (OpenAPI's implied mapping).
// A request already rejected on a parameter is answered with its parameter
// errors without its body being parsed or validated, and a JSON body whose
// checking would take more than Config.MaxValidationWork gets 413 before
// any schema work. Reasons never quote
// the request: kin-openapi's and the JSON Schema library's messages are
// mapped to fixed text built from the schema.
//
// OpenAPI 3.1: a value whose schema uses JSON Schema 2020-12 keywords
// (const, prefixItems, unevaluatedProperties, if/then/else, ...) is judged
// by a validator compiled at load, never per request, whatever carries it:
// a JSON, form, multipart or text body (the last three decoded as
// kin-openapi decodes them), a parameter of any style or a content
// parameter; with Config.InjectDefaults, the defaults of such a JSON body
// are filled in before it is validated. A schema no such validator can be
// compiled from refuses the document (with Config.SkipBrokenOperations,
// its operation is skipped). As for 3.0, a readOnly property must not be
// sent. $recursiveRef (JSON Schema 2019-09) is read as a reference to the
// enclosing $recursiveAnchor schema. "nullable" has no effect in 3.1
// documents; use a type array with "null". Webhooks are not validated.
// Responses (Config.Responses) are judged the same way, with no validator
// compiled per response, except that a response header, or a non-JSON
// response body, whose schema has 2020-12 keywords is not validated.
package validate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// ResponseMode selects what Middleware does with responses.
type ResponseMode int

const (
	// ResponseOff does not look at responses (the default).
	ResponseOff ResponseMode = iota
	// ResponseLog validates responses against the spec and logs the ones
	// that break it to Config.Logger; the client gets the response as is.
	ResponseLog
	// ResponseReject validates responses and replaces the ones that break
	// the spec with a 502 problem. Meant for staging. A status the
	// operation does not document (and no "default" response) breaks it too.
	//
	// Under ResponseLog and ResponseReject, compressed responses (a
	// Content-Encoding other than identity), responses over
	// Config.MaxResponseBytes and flushed ones are forwarded unvalidated and
	// counted in Stats.SkippedResponses.
	ResponseReject
)

// Config configures a Validator. The zero value of each field selects the
// default documented on it.
type Config struct {
	// MaxBodyBytes is the largest request body accepted, in bytes; larger
	// ones get 413 before they are read whole. A Rule may lower it for its
	// requests. It applies to requests of spec operations and requests some
	// rule matches; others are not read. Default 1 MiB. Negative is an error.
	MaxBodyBytes int64
	// JSON bounds JSON bodies before schema validation.
	JSON JSONLimits
	// MaxValidationWork bounds the work of checking one JSON body against
	// its schema, in units of one JSON value checked against one schema (a
	// value under a oneOf of five branches costs five), counted before any
	// schema work, in at most as many steps. A body over it is answered 413
	// (ErrTooLarge). Default 1,000,000 (about 0.1 to 1 s of kin-openapi's
	// validation at worst). Negative is an error.
	MaxValidationWork int64
	// MaxErrors is the most failed fields listed in one answer; the rest
	// are counted in "omittedErrors". Default 20.
	MaxErrors int
	// BasePaths are path prefixes stripped from request paths before they
	// are matched against the spec's paths, longest first; a path is also
	// tried unstripped. If nil, the base paths of the spec's servers (with
	// variables at their defaults) are used, so that a spec with servers
	// https://api.example.com/v1 validates /v1/pets at any host, and
	// /pets too when a gateway strips the prefix. Hosts are never compared.
	BasePaths []string
	// PassThroughUnknown sends requests whose path or method is not in the
	// spec to the next handler, unvalidated, instead of answering 404 or 405.
	PassThroughUnknown bool
	// AllowUnspecifiedBody accepts a body on operations whose spec declares
	// no requestBody. By default such a body gets 400.
	AllowUnspecifiedBody bool
	// Authenticate checks one security scheme of an operation's security
	// requirements; it is called only when the credential the scheme names
	// is present. Return nil to accept, an error wrapping ErrForbidden to
	// answer 403, any other error to answer 401. It must not read
	// in.Request.Body; in.Body has the bytes. Required when the spec has
	// security requirements, unless SkipSecurity.
	Authenticate func(ctx context.Context, in *AuthInput) error
	// SkipSecurity ignores the spec's security requirements (the backend
	// authenticates).
	SkipSecurity bool
	// InjectDefaults fills in schema defaults missing from JSON bodies
	// (properties absent or null, not readOnly) and forwards the
	// re-encoded body (different bytes: key order and number formatting
	// change, which breaks body signatures); the filled-in body is the one
	// validated. Off by default: the backend receives the exact bytes the
	// client sent. Parameter and form defaults are never injected; in 3.1
	// schemas with 2020-12 keywords, neither are defaults inside oneOf or
	// anyOf branches.
	InjectDefaults bool
	// Strict refuses a document for problems that never change a verdict:
	// examples and defaults that do not match their schemas, sibling
	// keywords the OpenAPI version does not define (a 3.1 keyword in a 3.0
	// document, a boolean exclusiveMinimum in a 3.1 one, $recursiveRef),
	// an array schema without items, a name listed twice in required. By
	// default they are accepted, as Redocly and Spectral accept them:
	// examples and defaults are not checked, the others are listed in
	// Validator.Warnings;
	// keywords of the other version are applied as that version means them
	// where kin-openapi understands them, and ignored otherwise. Meant for
	// CI linting of the document.
	Strict bool
	// SkipBrokenOperations loads a document whose problems are confined to
	// some operations: those operations are listed in Validator.Skipped,
	// each with its reasons. By default any problem refuses the document.
	//
	// A request to a skipped operation reaches the next handler with none
	// of the document's checks: no parameters, body, security requirement
	// or Content-Type are checked and, unless a Rule matches it, its body
	// is neither read nor capped by MaxBodyBytes (as Config.PassThroughUnknown
	// does for paths outside the document). Only Config.Rules and the
	// canonical path apply. Set RejectSkippedOperations to refuse such
	// requests instead.
	SkipBrokenOperations bool
	// RejectSkippedOperations answers requests to the operations
	// SkipBrokenOperations skipped with 500 problem+json (ErrInternal),
	// before any rule or body is read, instead of passing them
	// unvalidated: the document loads, and the broken operations fail
	// closed until it is fixed.
	RejectSkippedOperations bool
	// AllowExternalRefs lets LoadFile follow $refs to other local files.
	// Remote (http) references are never followed.
	AllowExternalRefs bool
	// Responses selects response validation in Middleware. Default ResponseOff.
	Responses ResponseMode
	// MaxResponseBytes is the largest response body buffered for response
	// validation; larger responses are streamed unvalidated. Default 1 MiB.
	MaxResponseBytes int64
	// Rules are spec-free checks. With a spec, they apply in addition to it.
	Rules []Rule
	// Logger receives response validation failures and recovered panics.
	// If nil, nothing is logged.
	Logger *slog.Logger
	// ErrorHandler writes the answer to a rejected request; err is an
	// *Error. If nil, WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// AuthInput is what Config.Authenticate is given.
type AuthInput struct {
	// Request is the request being validated. Its Body must not be read.
	Request *http.Request
	// Body is the request body, already read; it must not be modified.
	Body []byte
	// SchemeName is the name of the security scheme in the spec's components.
	SchemeName string
	// Scheme is the security scheme (apiKey, http bearer or basic, oauth2,
	// openIdConnect, mutualTLS).
	Scheme *openapi3.SecurityScheme
	// Scopes are the scopes the requirement lists.
	Scopes []string
}

// Validator validates requests against an OpenAPI document and rules. It is
// safe for concurrent use and must not be copied. The document must not be
// modified after New.
type Validator struct {
	cfg       Config
	doc       *openapi3.T // nil for NewRules
	ops       pathTable
	rules     pathTable
	global    []*compiledRule
	basePaths []string
	is31      bool
	matrix    bool // the spec has matrix-style path parameters: ";" may start a segment
	paramOpts *openapi3filter.Options
	bodyOpts  []openapi3.SchemaValidationOption
	respOpts  *openapi3filter.Options
	stats     counters
	intern    *interned // strings of the spec shared by parsed bodies; nil without compiled schemas
	warnings  []Problem
	skipped   []Problem
	broken    map[string]bool // pointers of skipped operations
}

// Warnings returns the problems of the document that did not refuse it
// (see Config.Strict and Config.SkipBrokenOperations), sorted by pointer.
// The caller must not modify the slice.
func (v *Validator) Warnings() []Problem { return v.warnings }

// Skipped returns the problems of the operations that
// Config.SkipBrokenOperations skipped, sorted by pointer; an operation
// may have several. The caller must not modify the slice.
func (v *Validator) Skipped() []Problem { return v.skipped }

// New returns a Validator for doc, which it checks first: the problems
// that refuse it (see Config.Strict and Config.SkipBrokenOperations) are
// returned together as a *LoadError. doc must not be modified afterwards.
// New completes each discriminator's mapping with the entries OpenAPI
// implies (a value naming a schema of components selects it), which
// kin-openapi would otherwise ignore; the document is otherwise left as is.
func New(doc *openapi3.T, cfg Config) (*Validator, error) {
	if doc == nil {
		return nil, errors.New("validate: nil document")
	}
	v, err := newValidator(cfg)
	if err != nil {
		return nil, err
	}
	l := lint(doc, cfg)
	if err := l.err(); err != nil {
		return nil, err
	}
	v.warnings, v.skipped, v.broken = l.warns, l.skipped, l.broken
	completeDiscriminators(doc)
	v.doc = doc
	v.is31 = doc.IsOpenAPI31OrLater()
	if err := v.compile(); err != nil {
		return nil, err
	}
	return v, nil
}

// Load parses an OpenAPI document in JSON or YAML and returns its Validator.
// External $refs are not followed.
func Load(data []byte, cfg Config) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("validate: loading OpenAPI document: %w", err)
	}
	return New(doc, cfg)
}

// LoadFile reads an OpenAPI document from a file and returns its Validator.
// With cfg.AllowExternalRefs, $refs to other local files are followed.
func LoadFile(path string, cfg Config) (*Validator, error) {
	loader := openapi3.NewLoader()
	if cfg.AllowExternalRefs {
		loader.IsExternalRefsAllowed = true
		loader.ReadFromURIFunc = func(l *openapi3.Loader, u *url.URL) ([]byte, error) {
			if u.Scheme != "" && u.Scheme != "file" || u.Host != "" {
				return nil, fmt.Errorf("validate: remote reference %q not allowed", u.Redacted())
			}
			return os.ReadFile(filepath.FromSlash(u.Path))
		}
	}
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("validate: loading %s: %w", path, err)
	}
	return New(doc, cfg)
}

// NewRules returns a Validator that applies cfg.Rules only, for users
// without an OpenAPI document. Requests no rule matches pass unchecked,
// their path canonical and their body neither read nor capped by Config.MaxBodyBytes
// (a Rule without Path matches every path, so it puts every request under
// the cap). Non-canonical paths get 400 all the same (see the package doc).
func NewRules(cfg Config) (*Validator, error) {
	if len(cfg.Rules) == 0 {
		return nil, errors.New("validate: NewRules needs at least one rule")
	}
	v, err := newValidator(cfg)
	if err != nil {
		return nil, err
	}
	if err := v.compileRules(); err != nil {
		return nil, err
	}
	return v, nil
}

func newValidator(cfg Config) (*Validator, error) {
	if cfg.MaxBodyBytes < 0 || cfg.MaxResponseBytes < 0 || cfg.MaxErrors < 0 || cfg.MaxValidationWork < 0 {
		return nil, errors.New("validate: negative limit in Config")
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 1<<20)
	cfg.MaxResponseBytes = cmp.Or(cfg.MaxResponseBytes, 1<<20)
	cfg.MaxErrors = cmp.Or(cfg.MaxErrors, 20)
	cfg.MaxValidationWork = cmp.Or(cfg.MaxValidationWork, 1_000_000)
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = WriteError
	}
	cfg.JSON = cfg.JSON.withDefaults()
	cfg.Rules = slices.Clone(cfg.Rules)
	cfg.BasePaths = slices.Clone(cfg.BasePaths)
	return &Validator{cfg: cfg}, nil
}

// compile builds everything validating requests needs from v.doc: the
// kin-openapi options, the base paths, the operations, the rules.
func (v *Validator) compile() error {
	v.setOptions()
	if err := v.setBasePaths(); err != nil {
		return err
	}
	if err := v.compileOperations(); err != nil {
		return err
	}
	return v.compileRules()
}

// setOptions sets the options kin-openapi is called with.
func (v *Validator) setOptions() {
	fmts := append(formatOptions(), openapi3.SetSchemaRegexCompiler(kinPattern))
	fmts = append(fmts, v.doc.GetSchemaValidationOptions()...)
	v.paramOpts = &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, SchemaValidationOptions: fmts}
	v.respOpts = &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true, SkipSettingDefaults: true, SchemaValidationOptions: fmts}
	// Never EnableJSONSchema2020: kin-openapi would compile a JSON Schema
	// validator per call. 3.1 schemas reach the 3.0 visitor only when it
	// judges them as 3.1 means them (openapi31.go).
	v.bodyOpts = append([]openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.MultiErrors()}, fmts...)
}

// setBasePaths sets the prefixes stripped from request paths:
// Config.BasePaths, or those of the document's servers.
func (v *Validator) setBasePaths() error {
	v.basePaths = v.cfg.BasePaths
	if v.basePaths == nil {
		for _, s := range v.doc.Servers {
			bp, err := s.BasePath()
			if err != nil {
				return fmt.Errorf("validate: server %q: %w", s.URL, err)
			}
			v.basePaths = append(v.basePaths, bp)
		}
	}
	v.basePaths = cleanBasePaths(v.basePaths)
	return nil
}
