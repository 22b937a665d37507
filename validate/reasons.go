package validate

import (
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Reasons sent to clients are built from the schema (the API's own
// constraints) and never from the value the client sent: library messages
// quote values (the JSON Schema 2020-12 validator does for most keywords,
// kin-openapi for unsupported property names, parse failures and
// Content-Types), so they are mapped to fixed text here.

// schemaReason is the reason for a kin-openapi schema error.
func schemaReason(se *openapi3.SchemaError) string {
	if ve, ok := se.Unwrap().(*jsonschema.ValidationError); ok {
		// Converted from the JSON Schema 2020-12 validator (OpenAPI 3.1).
		for len(ve.Causes) == 1 && isWrapperKind(ve.ErrorKind) {
			ve = ve.Causes[0]
		}
		return kindReason(ve.ErrorKind)
	}
	s := se.Schema
	switch se.SchemaField {
	case "properties", "additionalProperties":
		if q, ok := strings.CutSuffix(se.Reason, " is unsupported"); ok {
			name, err := strconv.Unquote(strings.TrimPrefix(q, "property "))
			if err != nil {
				name = ""
			}
			return propertyNotAllowed(name)
		}
	case "format":
		if s != nil && s.Format != "" {
			return "must be a valid " + s.Format
		}
		return "has an invalid format"
	case "":
		return "invalid"
	}
	// kin-openapi's own validator builds the other reasons from the schema.
	return noQuotedInput(safeReason(se.Reason), se.SchemaField)
}

// noQuotedInput returns s unless it quotes something that is not from the
// schema (a defensive check for reasons of keywords not mapped above); then
// a fixed reason naming the keyword.
func noQuotedInput(s, field string) string {
	switch field {
	case "enum", "pattern", "required", "discriminator", "oneOf", "anyOf", "allOf", "not":
		return s // quotes the enum, the pattern, a property name or a keyword of the spec
	}
	if strings.ContainsAny(s, `"'`) {
		return "does not satisfy " + field
	}
	return s
}

func isWrapperKind(k jsonschema.ErrorKind) bool {
	switch k.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference:
		return true
	}
	return false
}

// kindReason is the reason for an error of the JSON Schema validator
// (santhosh-tekuri/jsonschema): only the Want side (the schema) is used.
func kindReason(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return "must be of type " + strings.Join(k.Want, " or ")
	case *kind.Enum:
		return "must be one of the allowed values"
	case *kind.Const:
		return "must be the constant value of the schema"
	case *kind.Format:
		return "must be a valid " + k.Want
	case *kind.MinLength:
		return "must be at least " + strconv.Itoa(k.Want) + " characters long"
	case *kind.MaxLength:
		return "must be at most " + strconv.Itoa(k.Want) + " characters long"
	case *kind.Pattern:
		return "must match the pattern " + k.Want
	case *kind.Minimum:
		return "must be at least " + ratString(k.Want)
	case *kind.Maximum:
		return "must be at most " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be more than " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be less than " + ratString(k.Want)
	case *kind.MultipleOf:
		return "must be a multiple of " + ratString(k.Want)
	case *kind.MinItems:
		return "must have at least " + strconv.Itoa(k.Want) + " items"
	case *kind.MaxItems:
		return "must have at most " + strconv.Itoa(k.Want) + " items"
	case *kind.MinProperties:
		return "must have at least " + strconv.Itoa(k.Want) + " properties"
	case *kind.MaxProperties:
		return "must have at most " + strconv.Itoa(k.Want) + " properties"
	case *kind.Required:
		return "missing required properties: " + strings.Join(k.Missing, ", ")
	case *kind.DependentRequired:
		return "missing properties required by " + k.Prop + ": " + strings.Join(k.Missing, ", ")
	case *kind.Dependency:
		return "missing properties required by " + k.Prop + ": " + strings.Join(k.Missing, ", ")
	case *kind.AdditionalProperties:
		if len(k.Properties) == 1 {
			return propertyNotAllowed(k.Properties[0])
		}
		return "a property is not allowed here"
	case *kind.PropertyNames:
		return "a property name is not allowed"
	case *kind.AdditionalItems:
		return "has more items than allowed"
	case *kind.UniqueItems:
		return "items must be unique"
	case *kind.Contains, *kind.MinContains, *kind.MaxContains:
		return "does not contain the items the schema requires"
	case *kind.OneOf:
		return "must match exactly one schema of oneOf"
	case *kind.AnyOf:
		return "must match at least one schema of anyOf"
	case *kind.AllOf:
		return "must match all schemas of allOf"
	case *kind.Not:
		return "must not match the schema of not"
	case *kind.FalseSchema:
		return "is not allowed"
	case *kind.ContentEncoding, *kind.ContentMediaType, *kind.ContentSchema:
		return "has invalid content"
	}
	if kp := k.KeywordPath(); len(kp) > 0 {
		return "does not satisfy " + kp[len(kp)-1]
	}
	return "invalid"
}

func ratString(r interface{ FloatString(int) string }) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// parseReason is the reason for a kin-openapi parameter or body parse
// failure: its fixed reasons are kept; others (which may quote the input)
// become "cannot be parsed".
func parseReason(reason string) string {
	switch {
	case reason == "":
		return "cannot be parsed"
	case reason == "an invalid integer", reason == "an invalid number", reason == "an invalid boolean",
		reason == "array items must be set with indexes", reason == "path is not convertible to primitive",
		reason == "invalid param object", reason == "array items schema is required",
		strings.HasPrefix(reason, "a value must be "): // the expected prefix or layout, from the spec
		return "cannot be parsed: " + reason
	}
	return "cannot be parsed"
}

// libraryReason cuts a kin-openapi RequestError or ResponseError reason at
// its first quoted part (a Content-Type, a header value) so that no value
// of the message is echoed.
func libraryReason(s string) string {
	s = safeReason(s)
	if i := strings.IndexAny(s, `"'`); i >= 0 {
		s = strings.TrimRight(s[:i], " :")
	}
	if s == "" {
		return "invalid"
	}
	return s
}

// walkErrors adds the leaf failures of a JSON Schema validation error to
// c, with fixed reasons. A oneOf or anyOf over several branches is reported
// as itself (which branch the client meant is unknown).
func walkErrors(c *collector, in string, ve *jsonschema.ValidationError) {
	switch ve.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		if len(ve.Causes) != 1 {
			c.add(FieldError{In: in, Pointer: instancePointer(ve.InstanceLocation), Reason: kindReason(ve.ErrorKind)})
			return
		}
	}
	if len(ve.Causes) == 0 {
		c.add(FieldError{In: in, Pointer: instancePointer(ve.InstanceLocation), Reason: kindReason(ve.ErrorKind)})
		return
	}
	for _, sub := range ve.Causes {
		walkErrors(c, in, sub)
	}
}

// instancePointer is the RFC 6901 pointer of a location in the body.
func instancePointer(loc []string) string {
	return pointerOf(loc)
}

// propertyNotAllowed names an undeclared property when its name is plain
// (letters, digits, "_", "-" and ".", at most 64 bytes), so that the
// client learns which one to remove; any other name, which could carry
// markup, quotes or control characters into a client's or operator's
// view, is not repeated.
func propertyNotAllowed(name string) string {
	if name == "" || len(name) > 64 {
		return "a property is not allowed here"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "a property is not allowed here"
		}
	}
	return `property "` + name + `" is not allowed`
}

// reasonNotValidated is the reason given when a validator failed (a
// recovered panic): the request is refused rather than let through
// unchecked.
const reasonNotValidated = "could not be validated"
