package validate

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Problem is one problem found in an OpenAPI document while loading it.
type Problem struct {
	// Pointer is an RFC 6901 JSON pointer to the part of the document the
	// problem is in: a component ("/components/schemas/Pet"), an operation
	// ("/paths/~1pets~1{id}/get"), a webhook, or "" for the document.
	Pointer string
	// Reason says what is wrong, on one line, without the schema.
	Reason string
}

// String returns "pointer: reason".
func (p Problem) String() string { return p.Pointer + ": " + p.Reason }

// LoadError lists every problem that kept a document from loading. New,
// Load and LoadFile return it (wrapped); find it with errors.As.
type LoadError struct {
	// Problems are sorted by Pointer.
	Problems []Problem
}

// Error returns one line per problem.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("validate: invalid OpenAPI document:")
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// linter checks a document part by part, so that every problem is found
// with the place it is in, instead of the first one only.
type linter struct {
	ctx     context.Context
	strict  bool
	skip    bool            // Config.SkipBrokenOperations
	errs    []Problem       // problems that refuse the document
	warns   []Problem       // problems that never change a verdict (or, with skip, are judged per operation)
	skipped []Problem       // broken operations, with skip
	broken  map[string]bool // pointers of skipped operations
}

// lenientOptions turn off the checks of what never changes a verdict:
// examples and defaults that do not match their schemas.
func lenientOptions() []openapi3.ValidationOption {
	return []openapi3.ValidationOption{openapi3.DisableExamplesValidation(), openapi3.DisableSchemaDefaultsValidation()}
}

// lint checks doc. Problems of what never changes a verdict are warnings
// unless cfg.Strict; with cfg.SkipBrokenOperations, an operation with a
// problem is listed in skipped instead of refusing the document.
func lint(doc *openapi3.T, cfg Config) *linter {
	opts := []openapi3.ValidationOption{openapi3.EnableMultiError(), openapi3.SetRegexCompiler(kinPattern)}
	if doc.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.IsOpenAPI31OrLater())
	}
	if !cfg.Strict {
		opts = append(opts, lenientOptions()...)
	}
	l := &linter{
		ctx:    openapi3.WithValidationOptions(context.Background(), opts...),
		strict: cfg.Strict,
		skip:   cfg.SkipBrokenOperations,
		broken: map[string]bool{},
	}
	// A clean document, the common case, is checked whole, once: the part
	// by part walk below checks shared schemas again for every operation
	// that uses them.
	if doc.Validate(l.ctx, opts...) == nil {
		return l
	}
	top := *doc
	// The document's own checks need the security schemes, which are
	// checked there.
	top.Components, top.Webhooks = nil, nil
	if doc.Components != nil {
		top.Components = &openapi3.Components{SecuritySchemes: doc.Components.SecuritySchemes}
	}
	if doc.Paths != nil {
		top.Paths = openapi3.NewPaths()
	}
	l.report("", top.Validate(l.ctx, opts...))
	if c := doc.Components; c != nil {
		lintMap(l, "schemas", c.Schemas, func(m openapi3.Schemas) *openapi3.Components { return &openapi3.Components{Schemas: m} })
		lintMap(l, "parameters", c.Parameters, func(m openapi3.ParametersMap) *openapi3.Components { return &openapi3.Components{Parameters: m} })
		lintMap(l, "headers", c.Headers, func(m openapi3.Headers) *openapi3.Components { return &openapi3.Components{Headers: m} })
		lintMap(l, "requestBodies", c.RequestBodies, func(m openapi3.RequestBodies) *openapi3.Components { return &openapi3.Components{RequestBodies: m} })
		lintMap(l, "responses", c.Responses, func(m openapi3.ResponseBodies) *openapi3.Components { return &openapi3.Components{Responses: m} })
		lintMap(l, "examples", c.Examples, func(m openapi3.Examples) *openapi3.Components { return &openapi3.Components{Examples: m} })
		lintMap(l, "links", c.Links, func(m openapi3.Links) *openapi3.Components { return &openapi3.Components{Links: m} })
		lintMap(l, "callbacks", c.Callbacks, func(m openapi3.Callbacks) *openapi3.Components { return &openapi3.Components{Callbacks: m} })
	}
	if doc.Paths != nil {
		for tmpl, item := range doc.Paths.Map() {
			l.lintPath(tmpl, item)
		}
	}
	for name, item := range doc.Webhooks {
		if item != nil {
			// Webhooks are not validated: their problems never change a verdict.
			l.reportAs(pointerOf([]string{"webhooks", name}), item.Validate(l.ctx), !l.strict)
		}
	}
	for _, ps := range [][]Problem{l.errs, l.warns, l.skipped} {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Pointer < ps[j].Pointer })
	}
	return l
}

// lintMap checks each entry of one kind of component on its own.
func lintMap[M ~map[string]V, V any](l *linter, kind string, m M, wrap func(M) *openapi3.Components) {
	for name, v := range m {
		err := wrap(M{name: v}).Validate(l.ctx)
		// With SkipBrokenOperations, a broken component skips the
		// operations that use it (they fail their own check); one nobody
		// uses never changes a verdict.
		l.reportAs(pointerOf([]string{"components", kind, name}), err, l.skip)
	}
}

// lintPath checks each operation of a path item on its own, with the
// path's own checks (template parameters declared, and so on).
func (l *linter) lintPath(tmpl string, item *openapi3.PathItem) {
	if item == nil {
		return
	}
	for method, op := range item.Operations() {
		one := *item
		one.Connect, one.Delete, one.Get, one.Head, one.Options, one.Patch, one.Post, one.Put, one.Trace, one.Query = nil, nil, nil, nil, nil, nil, nil, nil, nil, nil
		one.SetOperation(method, op)
		err := openapi3.NewPaths(openapi3.WithPath(tmpl, &one)).Validate(l.ctx)
		ptr := pointerOf([]string{"paths", tmpl, strings.ToLower(method)})
		n := len(l.errs)
		l.report(ptr, err)
		if l.skip && len(l.errs) > n {
			l.skipped = append(l.skipped, l.errs[n:]...)
			l.errs = l.errs[:n]
			l.broken[ptr] = true
		}
	}
}

// report records the leaves of err at ptr: as warnings when they never
// change a verdict (and the mode is lenient), as errors otherwise.
func (l *linter) report(ptr string, err error) {
	for _, leaf := range leaves(err) {
		reason := problemReason(leaf)
		if !l.strict && harmless(leaf) {
			l.warns = append(l.warns, Problem{ptr, reason})
			continue
		}
		l.errs = append(l.errs, Problem{ptr, reason})
	}
}

// reportAs records the leaves of err at ptr, as warnings if warn.
func (l *linter) reportAs(ptr string, err error, warn bool) {
	if !warn {
		l.report(ptr, err)
		return
	}
	for _, leaf := range leaves(err) {
		l.warns = append(l.warns, Problem{ptr, problemReason(leaf)})
	}
}

// err returns the *LoadError of the problems that refuse the document, or nil.
func (l *linter) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	return &LoadError{Problems: l.errs}
}

// leaves flattens kin-openapi's multi-errors.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var out []error
		for _, e := range me {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// contextPrefix matches the location kin-openapi puts before a message,
// which the pointer already gives.
var contextPrefix = regexp.MustCompile(`^(invalid (paths|components|webhooks|info|servers|security|tags|external docs)|invalid path [^ ]+|invalid operation [A-Z]+|(schema|parameter|request body|requestBody|response|header|example|link|callback|webhook) "[^"]*"): `)

// problemReason is the first line of err's message (kin-openapi follows
// it with the schema), without the location, clipped.
func problemReason(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	for {
		loc := contextPrefix.FindStringIndex(s)
		if loc == nil {
			break
		}
		s = s[loc[1]:]
	}
	return clip(strings.TrimSpace(s), 300)
}

// harmless reports whether a problem is one that mainstream tools
// (Redocly, Spectral) warn about instead of refusing, and that never
// changes a verdict: unknown sibling keywords (a 3.1 keyword in a 3.0
// document, $recursiveRef next to other keywords), a boolean
// exclusiveMinimum or exclusiveMaximum in a 3.1 document (applied as 3.0
// means it), an array schema without items, or a name listed twice in
// required. It goes by kin-openapi's error types, never by message text.
func harmless(err error) bool {
	var (
		extra    *openapi3.ExtraSiblingFieldsError
		boolean  *openapi3.ExclusiveBoundBooleanBefore31
		noItems  *openapi3.SchemaItemsRequired
		required *openapi3.DuplicateRequiredFieldError
	)
	return errors.As(err, &extra) || errors.As(err, &boolean) || errors.As(err, &noItems) || errors.As(err, &required)
}
