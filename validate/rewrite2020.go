package validate

import (
	"strconv"
	"strings"
)

// rewrite2020 rewrites the serialised schemas a request-body validator is
// compiled from (res, whose components are schemas) so that plain JSON
// Schema 2020-12 says what OpenAPI adds for requests:
//
//   - a readOnly property must not be sent in a request, a writeOnly one
//     in a response (forbid names which), and it is not required there:
//     its schema becomes false and it leaves "required" (kin-openapi's rule);
//   - a discriminator selects the one branch to validate: a oneOf or anyOf
//     whose branches are all in the (completed) mapping becomes "the
//     property is one of the mapping's keys" and one if/then per key;
//   - $recursiveAnchor and $recursiveRef (JSON Schema 2019-09, found in
//     real 3.1 documents) become a $ref to the nearest enclosing schema
//     with $recursiveAnchor, their meaning when nothing extends the
//     recursion; without such a schema the reference accepts anything.
func rewrite2020(res any, components map[string]any, forbid string) {
	rw := &rewriter{components: components, forbid: forbid}
	rw.walk(res, "", "")
}

type rewriter struct {
	components map[string]any
	forbid     string // "readOnly" (requests) or "writeOnly" (responses)
}

// walk rewrites node, found at JSON pointer ptr; anchor is the pointer of
// the nearest enclosing schema with $recursiveAnchor ("" for none).
func (rw *rewriter) walk(node any, ptr, anchor string) {
	switch n := node.(type) {
	case []any:
		for i, x := range n {
			rw.walk(x, ptr+"/"+strconv.Itoa(i), anchor)
		}
	case map[string]any:
		if a, ok := n["$recursiveAnchor"].(bool); ok {
			delete(n, "$recursiveAnchor")
			if a {
				anchor = ptr
			}
		}
		if _, ok := n["$recursiveRef"]; ok {
			delete(n, "$recursiveRef")
			if anchor != "" {
				n["$ref"] = "#" + anchor
			}
		}
		rw.forbidden(n)
		rw.discriminator(n)
		for k, x := range n {
			rw.walk(x, ptr+"/"+escapeToken(k), anchor)
		}
	}
}

// forbidden forbids the readOnly (or writeOnly) properties of an object
// schema n.
func (rw *rewriter) forbidden(n map[string]any) {
	props, ok := n["properties"].(map[string]any)
	if !ok {
		return
	}
	var ro map[string]bool
	for name, p := range props {
		if rw.isForbidden(p) {
			props[name] = false
			if ro == nil {
				ro = map[string]bool{}
			}
			ro[name] = true
		}
	}
	if req, ok := n["required"].([]any); ok && ro != nil {
		kept := req[:0:0]
		for _, r := range req {
			if name, ok := r.(string); !ok || !ro[name] {
				kept = append(kept, r)
			}
		}
		n["required"] = kept
	}
}

// isForbidden reports whether a property schema is readOnly (or
// writeOnly), itself or through a reference to a component.
func (rw *rewriter) isForbidden(p any) bool {
	m, ok := p.(map[string]any)
	if !ok {
		return false
	}
	if ro, _ := m[rw.forbid].(bool); ro {
		return true
	}
	if ref, ok := m["$ref"].(string); ok {
		if name, ok := strings.CutPrefix(ref, "#/components/schemas/"); ok {
			if c, ok := rw.components[name].(map[string]any); ok {
				ro, _ := c[rw.forbid].(bool)
				return ro
			}
		}
	}
	return false
}

// discriminator rewrites a oneOf or anyOf with a discriminator into what
// kin-openapi does with it. For an object, the discriminator property must
// be a string; with a mapping, its value must be a key of the mapping and
// the value is validated against the branch the key maps to (the only one
// tried: a key mapping to no branch matches nothing); without one, every
// branch is tried. Other values are validated against the branches as if
// there were no discriminator.
func (rw *rewriter) discriminator(n map[string]any) {
	d, ok := n["discriminator"].(map[string]any)
	if !ok {
		return
	}
	delete(n, "discriminator")
	prop, _ := d["propertyName"].(string)
	key := "oneOf"
	branches, ok := n[key].([]any)
	if !ok {
		key = "anyOf"
		branches, ok = n[key].([]any)
	}
	if !ok || prop == "" {
		return
	}
	refs := map[string]bool{}
	for _, b := range branches {
		if m, ok := b.(map[string]any); ok {
			if ref, ok := m["$ref"].(string); ok {
				refs[ref] = true
			}
		}
	}
	mapping, _ := d["mapping"].(map[string]any)
	onObject := []any{}
	if len(mapping) == 0 {
		onObject = append(onObject,
			map[string]any{"required": []any{prop}, "properties": map[string]any{prop: map[string]any{"type": "string"}}},
			map[string]any{key: branches})
	} else {
		keys := make([]any, 0, len(mapping))
		for k, v := range mapping {
			ref, _ := v.(string)
			if !strings.Contains(ref, "/") {
				ref = "#/components/schemas/" + ref
			}
			var then any = false
			if refs[ref] {
				then = map[string]any{"$ref": ref}
			}
			keys = append(keys, k)
			onObject = append(onObject, map[string]any{
				"if":   map[string]any{"required": []any{prop}, "properties": map[string]any{prop: map[string]any{"const": k}}},
				"then": then,
			})
		}
		onObject = append(onObject, map[string]any{"required": []any{prop}, "properties": map[string]any{prop: map[string]any{"enum": keys}}})
	}
	delete(n, key)
	allOf, _ := n["allOf"].([]any)
	n["allOf"] = append(allOf, map[string]any{
		"if":   map[string]any{"type": "object"},
		"then": map[string]any{"allOf": onObject},
		"else": map[string]any{key: branches},
	})
}

func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
