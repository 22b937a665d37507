package validate

import (
	"github.com/getkin/kin-openapi/openapi3"
)

// Form bodies (application/x-www-form-urlencoded and multipart/form-data)
// are decoded by kin-openapi from their schema, which it wants more
// explicit than OpenAPI requires, rejecting valid requests:
//
//   - a schema with properties but no "type: object" is refused as a whole
//     ("cannot be validated against the spec"), though a form body can only
//     be an object;
//   - only declared properties are decoded, so a required field that is
//     not listed in "properties" is reported missing even when sent.
//
// formSchemaForKin gives kin-openapi a copy of such a schema that says so
// explicitly; the document itself is not modified.

// formSchemaForKin returns the schema kin-openapi should decode and
// validate a form body with: s itself, or a patched copy.
func formSchemaForKin(s *openapi3.Schema) *openapi3.Schema {
	if s == nil {
		return nil
	}
	untyped := s.Type == nil || s.Type.IsEmpty()
	var undeclared []string
	for _, name := range s.Required {
		if _, declared := propertySchema(s, name); !declared {
			undeclared = append(undeclared, name)
		}
	}
	if !untyped && len(undeclared) == 0 {
		return s
	}
	c := *s
	if untyped {
		c.Type = &openapi3.Types{openapi3.TypeObject}
	}
	if len(undeclared) > 0 {
		// An undeclared field is any value: of the additionalProperties
		// schema when there is one, a string (what a form field is) otherwise.
		field := openapi3.NewStringSchema().NewRef()
		if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
			field = ap
		}
		c.Properties = make(openapi3.Schemas, len(s.Properties)+len(undeclared))
		for k, v := range s.Properties {
			c.Properties[k] = v
		}
		for _, name := range undeclared {
			c.Properties[name] = field
		}
	}
	return &c
}

// formBodyForKin returns rb with its form media types' schemas replaced by
// formSchemaForKin's, or nil when none needs it.
func formBodyForKin(rb *openapi3.RequestBody) *openapi3.RequestBody {
	var content openapi3.Content
	for ct, media := range rb.Content {
		mt := mediaType(ct)
		if media == nil || media.Schema == nil || mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
			continue
		}
		s := formSchemaForKin(media.Schema.Value)
		if s == media.Schema.Value {
			continue
		}
		if content == nil {
			content = make(openapi3.Content, len(rb.Content))
			for k, v := range rb.Content {
				content[k] = v
			}
		}
		m := *media
		m.Schema = &openapi3.SchemaRef{Value: s}
		content[ct] = &m
	}
	if content == nil {
		return nil
	}
	c := *rb
	c.Content = content
	return &c
}
