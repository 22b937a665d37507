package validate

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/gatekit/gatekit/internal/problem"
)

// Sentinel errors, one per kind of rejection. An *Error unwraps to exactly
// one of them, so callers branch with errors.Is.
var (
	// ErrInvalid: a parameter, header or body broke the spec or a rule (400).
	ErrInvalid = errors.New("validate: invalid request")
	// ErrUnauthorized: no security requirement of the operation was met (401).
	ErrUnauthorized = errors.New("validate: unauthorized")
	// ErrForbidden: the Authenticate hook returned it (wrapped or not) to deny
	// an authenticated request (403).
	ErrForbidden = errors.New("validate: forbidden")
	// ErrNotFound: the path matches no operation of the spec (404).
	ErrNotFound = errors.New("validate: no such operation")
	// ErrMethodNotAllowed: the path exists but not for this method (405).
	ErrMethodNotAllowed = errors.New("validate: method not allowed")
	// ErrTooLarge: the body is over the size limit (413).
	ErrTooLarge = errors.New("validate: request body too large")
	// ErrUnsupportedMediaType: the body's Content-Type is not one the
	// operation or rule accepts (415).
	ErrUnsupportedMediaType = errors.New("validate: unsupported media type")
	// ErrInternal: validation itself failed, e.g. kin-openapi panicked (500).
	ErrInternal = errors.New("validate: internal error")
	// ErrResponse: a response broke the spec, with ResponseReject (502).
	ErrResponse = errors.New("validate: response does not match the spec")
)

// FieldError is one failed check. It is marshalled into the "errors"
// extension of the problem+json answer. Its strings are bounded: values
// sent by the client are never copied into it, and every member is cut to
// a few hundred bytes.
type FieldError struct {
	// In is where the problem is: "path", "query", "header", "cookie",
	// "body" or "security".
	In string `json:"in"`
	// Name is the parameter, header or security scheme name; empty for the body.
	Name string `json:"name,omitempty"`
	// Pointer is an RFC 6901 JSON pointer into the body or the parameter's
	// value ("" for the whole value).
	Pointer string `json:"pointer,omitempty"`
	// Reason says what is wrong, for a human.
	Reason string `json:"reason"`
}

// Error is a rejected request (or, with response validation, response). It
// unwraps to one of the sentinel errors. Error values are not retained by
// the Validator; callers may keep or modify them.
type Error struct {
	// Status is the HTTP status the default error handler answers with.
	Status int
	// Detail is a one-line summary without client input.
	Detail string
	// Fields lists the failed checks, at most Config.MaxErrors of them.
	Fields []FieldError
	// Omitted counts the failed checks left out of Fields.
	Omitted int
	// Allow lists the methods of the path, for 405.
	Allow []string
	// Challenge is the WWW-Authenticate value for 401, built from the
	// operation's http and oauth2 security schemes ("" when none applies).
	Challenge string
	// Cause is the underlying error, for logs only: it may contain client
	// input and must not be sent to clients.
	Cause error

	kind error
}

// Error returns the kind and the detail.
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.Detail
}

// Unwrap returns the sentinel error for e's kind.
func (e *Error) Unwrap() error { return e.kind }

const (
	maxReason  = 200
	maxName    = 100
	maxPointer = 200
)

// clip cuts s to at most n bytes at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// collector accumulates FieldErrors up to a cap.
type collector struct {
	max     int
	fields  []FieldError
	omitted int
}

func (c *collector) add(f FieldError) {
	if len(c.fields) >= c.max {
		c.omitted++
		return
	}
	f.Name = clip(f.Name, maxName)
	f.Pointer = clip(f.Pointer, maxPointer)
	f.Reason = clip(f.Reason, maxReason)
	c.fields = append(c.fields, f)
}

// addKin flattens an error returned by kin-openapi for one parameter
// (in, name) or the body (in == "body").
func (c *collector) addKin(in, name string, err error) {
	switch e := err.(type) {
	case openapi3.MultiError:
		for _, sub := range e {
			c.addKin(in, name, sub)
		}
		return
	case *openapi3filter.RequestError:
		if e.Err == nil {
			c.add(FieldError{In: in, Name: name, Reason: libraryReason(e.Reason)})
			return
		}
		c.addKin(in, name, e.Err)
		return
	case *openapi3filter.ResponseError:
		if e.Err == nil {
			c.add(FieldError{In: in, Name: name, Reason: libraryReason(e.Reason)})
			return
		}
		c.addKin(in, name, e.Err)
		return
	case *openapi3.SchemaError:
		c.addSchema(in, name, "", e)
		return
	case *openapi3filter.ParseError:
		reason := ""
		for p := e; p != nil; {
			if p.Reason != "" {
				reason = p.Reason
			}
			next, ok := p.Cause.(*openapi3filter.ParseError)
			if !ok {
				break
			}
			p = next
		}
		c.add(FieldError{In: in, Name: name, Reason: parseReason(reason)})
		return
	}
	var se *openapi3.SchemaError
	switch {
	case errors.Is(err, openapi3filter.ErrInvalidRequired):
		c.add(FieldError{In: in, Name: name, Reason: "required"})
	case errors.Is(err, openapi3filter.ErrInvalidEmptyValue):
		c.add(FieldError{In: in, Name: name, Reason: "empty value is not allowed"})
	case errors.As(err, &se):
		c.addSchema(in, name, "", se)
	default:
		// Library errors other than the above may quote the input; they
		// mostly come from spec defects such as a parameter without a schema.
		c.add(FieldError{In: in, Name: name, Reason: "cannot be validated against the spec"})
	}
}

// addSchema reports a schema error. A oneOf/anyOf failure keeps only its
// own reason; allOf and nested multi-errors are flattened.
func (c *collector) addSchema(in, name, prefix string, se *openapi3.SchemaError) {
	ptr := prefix + pointerOf(se.JSONPointer())
	if se.Origin != nil {
		var me openapi3.MultiError
		xOf := se.SchemaField == "oneOf" || se.SchemaField == "anyOf"
		// Flatten nested errors, except for oneOf/anyOf over several
		// branches (which branch the client meant is unknown); a oneOf whose
		// discriminator picked the branch reports that branch's errors.
		if errors.As(se.Origin, &me) && len(me) > 0 && se.SchemaField != "not" && (!xOf || len(me) == 1) {
			before := len(c.fields) + c.omitted
			for _, e := range me {
				c.addKin(in, name, e)
			}
			if len(c.fields)+c.omitted > before {
				return
			}
		}
	}
	c.add(FieldError{In: in, Name: name, Pointer: ptr, Reason: schemaReason(se)})
}

func pointerOf(path []string) string {
	if len(path) == 0 {
		return ""
	}
	n := 0
	for _, p := range path {
		n += 1 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range path {
		b = append(b, '/')
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '~':
				b = append(b, '~', '0')
			case '/':
				b = append(b, '~', '1')
			default:
				b = append(b, p[i])
			}
		}
	}
	return string(b)
}

// safeReason keeps the first line of a library reason, cut short: the JSON
// Schema 2020-12 validator of kin-openapi quotes values in its messages.
func safeReason(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "invalid"
	}
	return clip(s, maxReason)
}

// newError builds an *Error of the given kind.
func newError(kind error, status int, detail string, c *collector, cause error) *Error {
	e := &Error{Status: status, Detail: detail, Cause: cause, kind: kind}
	if c != nil {
		e.Fields, e.Omitted = c.fields, c.omitted
	}
	return e
}

// WriteError is the default error handler: it answers err as RFC 9457
// problem+json. An *Error gives the status, the detail, the "errors" list
// (and "omittedErrors" when capped), for 405 the Allow header and for 401
// the WWW-Authenticate header. Any
// other error is answered 500 without its text.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		problem.Write(w, http.StatusInternalServerError, "")
		return
	}
	d := problem.Details{Status: e.Status, Detail: e.Detail}
	if len(e.Fields) > 0 {
		d.Extensions = map[string]any{"errors": e.Fields}
		if e.Omitted > 0 {
			d.Extensions["omittedErrors"] = e.Omitted
		}
	}
	if e.Status == http.StatusMethodNotAllowed && len(e.Allow) > 0 {
		w.Header().Set("Allow", strings.Join(e.Allow, ", "))
	}
	if e.Status == http.StatusUnauthorized && e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	problem.WriteDetails(w, d)
}
