package validate

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Config.InjectDefaults for bodies judged by the 2020-12 validator compiled
// at load. kin-openapi fills defaults in while its OpenAPI 3.0 visitor
// walks a value; for 3.1 schemas with 2020-12 keywords that would mean a
// validator compiled per request, so the defaults are filled in here, as
// that visitor fills them, and the result is then validated.

// checkBody2020 judges a parsed JSON body with the 2020-12 validator cs
// compiled at load for schema (final both ways) and returns the body to
// forward. With Config.InjectDefaults, the defaults schema declares for
// absent properties are filled in first (injectDefaults); the filled-in
// value is the one validated and, when it passes, forwarded re-encoded.
func (v *Validator) checkBody2020(r *http.Request, cs *jsonschema.Schema, schema *openapi3.Schema, body []byte, val any, c *collector) []byte {
	defaulted := v.cfg.InjectDefaults && injectDefaults(val, schema, nil)
	rejected, passed := check2020(cs, val, c, "body", "")
	if !rejected && !passed {
		v.logPanic(r, "JSON Schema 2020-12 validator")
		c.add(FieldError{In: "body", Reason: reasonNotValidated})
	}
	if passed && defaulted {
		if nb, err := json.Marshal(val); err == nil {
			return nb
		}
	}
	return body
}

// injectDefaults fills in, in val, the default of every property of s
// (and of the schemas s applies to the same value through allOf, and to
// array items and additional properties) that is absent or null, unless the
// property is readOnly, as kin-openapi's visitor does for requests. It
// reports whether it filled anything in. Defaults inside oneOf and anyOf
// branches are not filled in: which branch applies is the validator's
// verdict. seen holds the schemas already applied to val (allOf cycles).
func injectDefaults(val any, s *openapi3.Schema, seen []*openapi3.Schema) bool {
	if s == nil || slices.Contains(seen, s) {
		return false
	}
	seen = append(seen, s)
	done := false
	for _, ref := range s.AllOf {
		if ref != nil && injectDefaults(val, ref.Value, seen) {
			done = true
		}
	}
	switch val := val.(type) {
	case map[string]any:
		for name, ref := range s.Properties {
			if ref == nil || ref.Value == nil || ref.Value.ReadOnly {
				continue
			}
			if val[name] == nil && ref.Value.Default != nil {
				val[name] = copyJSON(ref.Value.Default)
				done = true
			}
			if injectDefaults(val[name], ref.Value, nil) {
				done = true
			}
		}
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			for name, x := range val {
				if _, declared := s.Properties[name]; !declared && injectDefaults(x, ap.Value, nil) {
					done = true
				}
			}
		}
	case []any:
		if s.Items != nil {
			for _, x := range val {
				if injectDefaults(x, s.Items.Value, nil) {
					done = true
				}
			}
		}
	}
	return done
}

// copyJSON deep-copies a JSON value, so that a default filled into a body
// is never shared with the schema or with another body.
func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, x := range v {
			c[k] = copyJSON(x)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = copyJSON(x)
		}
		return c
	}
	return v
}
