package validate

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Rule is a spec-free check applied to the requests it matches: all rules
// whose Method and Path match a request apply to it.
type Rule struct {
	// Method is the request method the rule applies to; "" means every method.
	Method string
	// Path is a path template such as "/users/{id}/avatar" the rule applies
	// to; "" means every path. Config.BasePaths are stripped first.
	Path string
	// RequiredHeaders must be present (and non-empty) on the request.
	RequiredHeaders []string
	// ContentTypes are the media types ("application/json", "text/*")
	// accepted for a request body; others get 415. Nil accepts any.
	ContentTypes []string
	// MaxBodyBytes lowers Config.MaxBodyBytes for the rule's requests; 0
	// keeps it.
	MaxBodyBytes int64
	// JSON requires a non-empty body that is well-formed JSON within
	// Config.JSON's limits.
	JSON bool
	// Schema is a JSON Schema (draft 2020-12 unless its $schema says
	// otherwise; formats are asserted) the JSON body must match. It is
	// compiled once, by the constructor; $refs may point within the schema
	// only. It implies JSON.
	Schema []byte
}

type compiledRule struct {
	Rule
	headers []string // canonical names
	types   []string // lowercase media ranges
	schema  *jsonschema.Schema
}

func (v *Validator) compileRules() error {
	if v.bodyOpts == nil {
		v.bodyOpts = append([]openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.MultiErrors()}, formatOptions()...)
	}
	for i, r := range v.cfg.Rules {
		if r.MaxBodyBytes < 0 {
			return fmt.Errorf("validate: rule %d: negative MaxBodyBytes", i)
		}
		cr := &compiledRule{Rule: r}
		cr.Method = strings.ToUpper(r.Method)
		for _, h := range r.RequiredHeaders {
			if h == "" {
				return fmt.Errorf("validate: rule %d: empty header name", i)
			}
			cr.headers = append(cr.headers, http.CanonicalHeaderKey(h))
		}
		for _, t := range r.ContentTypes {
			t = strings.ToLower(strings.TrimSpace(t))
			if !strings.Contains(t, "/") {
				return fmt.Errorf("validate: rule %d: bad media type %q", i, t)
			}
			cr.types = append(cr.types, t)
		}
		if len(r.Schema) > 0 {
			s, err := compileSchema(r.Schema)
			if err != nil {
				return fmt.Errorf("validate: rule %d: schema: %w", i, err)
			}
			cr.schema = s
			cr.JSON = true
		}
		if r.Path == "" {
			v.global = append(v.global, cr)
			continue
		}
		entry, err := v.rules.add(r.Path)
		if err != nil {
			return fmt.Errorf("validate: rule %d: %w", i, err)
		}
		entry.rules = append(entry.rules, cr)
	}
	return nil
}

// appliesTo reports whether the rule's method matches.
func (cr *compiledRule) appliesTo(method string) bool {
	// HEAD is GET without a response body (RFC 9110 9.3.2): a GET rule
	// checks it too, or a HEAD request would slip past it.
	return cr.Method == "" || cr.Method == method || method == http.MethodHead && cr.Method == http.MethodGet
}

// mediaType returns the lowercased media type of a Content-Type value,
// without parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	for i := 0; i < len(mt); i++ {
		if c := mt[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(mt)
		}
	}
	return mt
}

// isJSON reports whether a media type is JSON (application/json or a +json
// suffix).
func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// mediaAllowed reports whether mt matches one of the media ranges.
func mediaAllowed(mt string, ranges []string) bool {
	for _, r := range ranges {
		if r == mt || r == "*/*" {
			return true
		}
		if base, ok := strings.CutSuffix(r, "/*"); ok && strings.HasPrefix(mt, base+"/") {
			return true
		}
	}
	return false
}

// check applies the rule to a request whose body is known, adding failures
// to c. It returns a non-nil *Error for 415 (which ends validation).
func (cr *compiledRule) check(v *Validator, r *http.Request, body []byte, c *collector) *Error {
	for _, h := range cr.headers {
		if r.Header.Get(h) == "" {
			c.add(FieldError{In: "header", Name: h, Reason: "required"})
		}
	}
	mt := mediaType(r.Header.Get("Content-Type"))
	if len(body) > 0 && cr.types != nil && !mediaAllowed(mt, cr.types) {
		return newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType,
			"Content-Type must be one of: "+clip(strings.Join(cr.types, ", "), maxReason), nil, nil)
	}
	if !cr.JSON {
		return nil
	}
	if len(body) == 0 {
		c.add(FieldError{In: "body", Reason: "a JSON body is required"})
		return nil
	}
	if !isJSON(mt) {
		return newError(ErrUnsupportedMediaType, http.StatusUnsupportedMediaType, "Content-Type must be application/json", nil, nil)
	}
	if !utf8Charset(r.Header.Get("Content-Type")) {
		return errCharset()
	}
	val, err := parseJSON(body, v.cfg.JSON)
	if err != nil {
		je := err.(*jsonError)
		c.add(FieldError{In: "body", Pointer: je.pointer(), Reason: je.reason})
		return nil
	}
	if cr.schema != nil {
		err := safely(func() error { return cr.schema.Validate(val) })
		var ve *jsonschema.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			walkErrors(c, "body", ve)
		default:
			c.add(FieldError{In: "body", Reason: "could not be validated"})
		}
	}
	return nil
}

// compileSchema compiles a JSON Schema document that may not load anything
// from outside itself.
func compileSchema(doc []byte) (*jsonschema.Schema, error) {
	val, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	const loc = "urn:gatekit:rule"
	if err := c.AddResource(loc, val); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// noLoader refuses every external schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema %q not allowed", url)
}
