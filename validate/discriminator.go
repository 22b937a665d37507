package validate

import (
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// OpenAPI lets a discriminator value name a schema of components without a
// mapping entry ("Cat" selects #/components/schemas/Cat): the implied
// mapping. kin-openapi ignores it and, without a mapping, tries every
// branch of the oneOf: a Cat that also matches Dog's schema is rejected as
// ambiguous, and a body that says "Dog" but only matches Cat is accepted.
// completeDiscriminators writes the implied entries into each mapping
// before anything is compiled, so that the value selects the one branch to
// validate, as OpenAPI says. The same fix for kin-openapi itself is offered
// as a patch in upstream/.

// completeDiscriminators adds the implied mapping entries of every
// discriminator reachable from doc's components and operations. A
// discriminator is completed only when every branch of its oneOf or anyOf
// is a reference to a schema of components (otherwise an inline branch
// could no longer be selected).
func completeDiscriminators(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(r *openapi3.SchemaRef)
	walkAll := func(rs openapi3.SchemaRefs) {
		for _, r := range rs {
			walk(r)
		}
	}
	walk = func(r *openapi3.SchemaRef) {
		if r == nil || r.Value == nil || seen[r.Value] {
			return
		}
		s := r.Value
		seen[s] = true
		completeDiscriminator(s)
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.Not)
		walk(s.AdditionalProperties.Schema)
		walkAll(s.AllOf)
		walkAll(s.AnyOf)
		walkAll(s.OneOf)
		walkAll(s.PrefixItems)
	}
	content := func(c openapi3.Content) {
		for _, m := range c {
			if m != nil {
				walk(m.Schema)
			}
		}
	}
	if c := doc.Components; c != nil {
		for _, r := range c.Schemas {
			walk(r)
		}
	}
	if doc.Paths == nil {
		return
	}
	for _, item := range doc.Paths.Map() {
		if item == nil {
			continue
		}
		for _, op := range item.Operations() {
			for _, p := range append(item.Parameters, op.Parameters...) {
				if p != nil && p.Value != nil {
					walk(p.Value.Schema)
					content(p.Value.Content)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			if op.Responses != nil {
				for _, resp := range op.Responses.Map() {
					if resp != nil && resp.Value != nil {
						content(resp.Value.Content)
					}
				}
			}
		}
	}
}

// completeDiscriminator adds the implied mapping entries of s's discriminator.
func completeDiscriminator(s *openapi3.Schema) {
	d := s.Discriminator
	if d == nil || d.PropertyName == "" {
		return
	}
	branches := s.OneOf
	if len(branches) == 0 {
		branches = s.AnyOf
	}
	if len(branches) == 0 {
		return
	}
	const prefix = "#/components/schemas/"
	for _, b := range branches {
		if b == nil || !strings.HasPrefix(b.Ref, prefix) || strings.Contains(b.Ref[len(prefix):], "/") {
			return
		}
	}
	mapped := map[string]bool{}
	for _, m := range d.Mapping {
		mapped[m.Ref] = true
		mapped[prefix+m.Ref] = true // a mapping value may be a bare schema name
	}
	for _, b := range branches {
		name := b.Ref[len(prefix):]
		if _, taken := d.Mapping[name]; taken || mapped[b.Ref] {
			continue
		}
		if d.Mapping == nil {
			d.Mapping = make(map[string]openapi3.MappingRef, len(branches))
		}
		d.Mapping[name] = openapi3.MappingRef{Ref: b.Ref}
	}
}
