package validate

import (
	"errors"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// OpenAPI 3.1 without the 2020-12 cost. Given EnableJSONSchema2020 (which
// openapi3filter always passes for 3.1 documents), kin-openapi v0.153.0
// compiles a JSON Schema 2020-12 validator for the schema on every call,
// ~200 µs for a small schema even when the schema only uses keywords its
// OpenAPI 3.0 visitor handles, and then, for a schema with component $refs,
// validates with that visitor anyway. Every request the compiled schemas
// cannot accept (every invalid one) paid it: a CPU amplifier.
//
// A 3.1 schema that uses none of the keywords kin-openapi itself sends to
// the 2020-12 validator (const, prefixItems, contains, patternProperties,
// dependentSchemas, propertyNames, unevaluated*, if/then/else,
// dependentRequired, $defs, contentSchema) is therefore validated by the
// 3.0 visitor directly — kin-openapi's own fallback for such schemas — on
// a copy whose "nullable" is cleared, because in 3.1 null comes only from a
// type array (the one difference of the 3.0 visitor in 3.1 mode). The
// others are judged by validators compiled once at load (jsonschema2020.go),
// whatever carries the value: a JSON body, a form, multipart or text body
// (decoded by kin-openapi's body decoders), a parameter of any style or a
// content parameter (decoded by kin-openapi, decodeOnlyParam). kin-openapi
// is only ever given routes whose document says 3.0.3 (route30), never
// EnableJSONSchema2020, so that it cannot compile a validator per request.

// uses2020 reports whether the subtree of s has a keyword kin-openapi
// validates with its JSON Schema 2020-12 validator.
func uses2020(s *openapi3.Schema) bool {
	errFound := errors.New("found")
	err := openapi3.NewSchemaRef("", s).WalkSubtree(func(_ string, ref *openapi3.SchemaRef) error {
		x := ref.Value
		if x == nil {
			return nil
		}
		if x.Const != nil || len(x.PrefixItems) != 0 || x.Contains != nil || len(x.PatternProperties) != 0 ||
			len(x.DependentSchemas) != 0 || x.PropertyNames != nil ||
			x.UnevaluatedItems.Has != nil || x.UnevaluatedItems.Schema != nil ||
			x.UnevaluatedProperties.Has != nil || x.UnevaluatedProperties.Schema != nil ||
			x.If != nil || x.Then != nil || x.Else != nil || len(x.DependentRequired) != 0 ||
			len(x.Defs) != 0 || x.ContentSchema != nil || recursiveKeyword(x) {
			return errFound
		}
		return nil
	})
	return err != nil
}

// recursiveKeyword reports whether s has a JSON Schema 2019-09 or 2020-12
// dynamic reference keyword, which kin-openapi keeps as an unknown field.
func recursiveKeyword(s *openapi3.Schema) bool {
	for _, k := range []string{"$recursiveRef", "$recursiveAnchor", "$dynamicRef", "$dynamicAnchor"} {
		if _, ok := s.Extensions[k]; ok {
			return true
		}
	}
	return false
}

// hasNullable reports whether the subtree of s sets "nullable".
func hasNullable(s *openapi3.Schema) bool {
	errFound := errors.New("found")
	err := openapi3.NewSchemaRef("", s).WalkSubtree(func(_ string, ref *openapi3.SchemaRef) error {
		if ref.Value != nil && ref.Value.Nullable {
			return errFound
		}
		return nil
	})
	return err != nil
}

// as30Schema returns the schema to validate a 3.1 value with the 3.0 visitor
// (s itself, or a copy without "nullable"), or nil when s needs the
// 2020-12 validator.
func as30Schema(s *openapi3.Schema) *openapi3.Schema {
	if s == nil || uses2020(s) {
		return nil
	}
	if !hasNullable(s) {
		return s
	}
	return withoutNullable(s, map[*openapi3.Schema]*openapi3.Schema{})
}

// withoutNullable deep-copies a schema without 2020-12 keywords, clearing
// "nullable" everywhere; $ref strings are kept (discriminator mappings
// compare them).
func withoutNullable(s *openapi3.Schema, done map[*openapi3.Schema]*openapi3.Schema) *openapi3.Schema {
	if s == nil {
		return nil
	}
	if c, ok := done[s]; ok {
		return c
	}
	c := new(openapi3.Schema)
	done[s] = c
	*c = *s
	c.Nullable = false
	ref := func(r *openapi3.SchemaRef) *openapi3.SchemaRef {
		if r == nil {
			return nil
		}
		return &openapi3.SchemaRef{Ref: r.Ref, Value: withoutNullable(r.Value, done)}
	}
	refs := func(rs openapi3.SchemaRefs) openapi3.SchemaRefs {
		if rs == nil {
			return nil
		}
		out := make(openapi3.SchemaRefs, len(rs))
		for i, r := range rs {
			out[i] = ref(r)
		}
		return out
	}
	c.OneOf, c.AnyOf, c.AllOf = refs(s.OneOf), refs(s.AnyOf), refs(s.AllOf)
	c.Not, c.Items = ref(s.Not), ref(s.Items)
	c.AdditionalProperties.Schema = ref(s.AdditionalProperties.Schema)
	if s.Properties != nil {
		c.Properties = make(openapi3.Schemas, len(s.Properties))
		for k, r := range s.Properties {
			c.Properties[k] = ref(r)
		}
	}
	return c
}

// param30 reports whether p can be validated as OpenAPI 3.0: no
// 2020-12 keywords and no "nullable" in its schemas.
func param30(p *openapi3.Parameter) bool {
	check := func(s *openapi3.SchemaRef) bool {
		return s == nil || s.Value == nil || !uses2020(s.Value) && !hasNullable(s.Value)
	}
	if !check(p.Schema) {
		return false
	}
	for _, m := range p.Content {
		if m != nil && !check(m.Schema) {
			return false
		}
	}
	return true
}

// route30 returns a copy of route whose document says OpenAPI 3.0.3, so
// that openapi3filter validates with the 3.0 visitor.
func route30(route *routers.Route, doc30 *openapi3.T) *routers.Route {
	r := *route
	r.Spec = doc30
	return &r
}

// compileBody31 finds the 3.1 body schemas of o that the 3.0 visitor can
// validate, and queues the others for the 2020-12 validator.
func (oc *opCompiler) compileBody31(o *operation) {
	forms30Copy(o)
	for ct, media := range o.body.Content {
		if media == nil || media.Schema == nil || media.Schema.Value == nil {
			continue
		}
		json := isJSON(mediaType(ct))
		if ls := as30Schema(media.Schema.Value); ls != nil {
			if json {
				if o.body30 == nil {
					o.body30 = make(map[*openapi3.MediaType]*openapi3.Schema)
				}
				o.body30[media] = ls
			}
			continue
		}
		oc.set2020.add(media.Schema, o, func(s *jsonschema.Schema) {
			target := &o.decoded2020
			if json {
				target = &o.body2020
			}
			if *target == nil {
				*target = make(map[*openapi3.MediaType]*jsonschema.Schema)
			}
			(*target)[media] = s
		})
	}
}

// forms30Copy gives kin-openapi a copy of o's non-JSON media types whose
// schemas the 3.0 visitor can validate once "nullable" (no effect in 3.1)
// is cleared. The others keep their schema, which kin-openapi uses only
// to decode the body: the 2020-12 validator judges it (decoded2020).
func forms30Copy(o *operation) {
	base := o.body
	if o.formBody != nil {
		base = o.formBody
	}
	content := make(openapi3.Content, len(base.Content))
	for ct, m := range base.Content {
		content[ct] = m
		if m == nil || m.Schema == nil || m.Schema.Value == nil || isJSON(mediaType(ct)) {
			continue
		}
		if ls := as30Schema(m.Schema.Value); ls != nil && ls != m.Schema.Value {
			c := *m
			c.Schema = &openapi3.SchemaRef{Ref: m.Schema.Ref, Value: ls}
			content[ct] = &c
		}
	}
	rb := *base
	rb.Content = content
	o.formBody = &rb
}
