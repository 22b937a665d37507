package validate

import (
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
)

// The validation budget. Checking a JSON body against a schema costs about
// one unit per (value, schema) pair: a value under a oneOf of five
// branches is checked five times, and its members under each branch's
// own unions again. The schema's fan-out (the most schemas one value can
// be checked against, branches multiplied along the nesting) is computed
// once at load; a body whose size times that fan-out is within
// Config.MaxValidationWork is checked at once. Any other body is metered
// first, following its values through the schema (at most the budget's
// worth of steps), and answered 413 when over the budget, before any
// schema work: no body can make validation cost more than the budget,
// whatever the schema.

// maxFanout caps a schema's fan-out (deeply nested unions).
const maxFanout = 1 << 30

// fanout returns the fan-out of s: how many schemas one value at s, and
// each value below it, may be checked against at most. A recursive
// reference counts once (the depth it repeats to is the body's, which its
// size bounds), unless the recursion passes through a union (allOf, anyOf,
// oneOf, not, if/then/else): then every level of nesting may multiply the
// schemas a value is checked against, and the fan-out of every schema of
// that recursion is maxFanout, so that their bodies are always metered.
func fanout(s *openapi3.Schema, memo map[*openapi3.Schema]int64) int64 {
	fc := fanoutCounter{memo: memo, index: map[*openapi3.Schema]int{}, partial: map[*openapi3.Schema]int64{}, cyclic: map[*openapi3.Schema]bool{}}
	f, _ := fc.of(s)
	return f
}

// fanoutCounter computes fan-outs depth first, finding the strongly
// connected groups of schemas (Tarjan's algorithm): the schemas of one
// group reach each other, so a value at any of them may nest through all
// of them. A group's fan-outs are final (memo) once its first schema is
// done; until then they are partial.
type fanoutCounter struct {
	memo    map[*openapi3.Schema]int64
	index   map[*openapi3.Schema]int   // order of visit, for schemas of groups still open
	partial map[*openapi3.Schema]int64 // fan-outs of schemas whose group is open
	cyclic  map[*openapi3.Schema]bool  // referenced while open: part of a recursion
	open    []*openapi3.Schema         // schemas of groups still open, in visit order
	next    int
}

// hasUnion reports whether a value at x, or a member or item of it, may
// be checked against more than one schema: x has allOf, anyOf, oneOf, not,
// if/then/else, or a JSON Schema 2020-12 applicator that adds schemas to
// members or items (patternProperties, dependentSchemas, contains,
// propertyNames, unevaluatedItems/Properties), or a $dynamicRef.
func hasUnion(x *openapi3.Schema) bool {
	return len(x.AllOf)+len(x.AnyOf)+len(x.OneOf) > 0 || x.Not != nil || x.If != nil || x.Then != nil || x.Else != nil ||
		len(x.PatternProperties)+len(x.DependentSchemas) > 0 || x.Contains != nil || x.PropertyNames != nil ||
		x.UnevaluatedItems.Schema != nil || x.UnevaluatedProperties.Schema != nil || x.DynamicRef != ""
}

// maxInlineVisits bounds the union members one schema's fan-out walks
// (shared members are walked again at each place): past it, or past
// maxInlineDepth, the fan-out is maxFanout rather than a guess.
const (
	maxInlineVisits = 4096
	maxInlineDepth  = 32
)

// of returns the fan-out of s (partial while its group is open) and the
// lowest visit index s reaches among schemas still open.
func (fc *fanoutCounter) of(s *openapi3.Schema) (int64, int) {
	if s == nil {
		return 1, math.MaxInt
	}
	if f, ok := fc.memo[s]; ok {
		return f, math.MaxInt
	}
	if i, open := fc.index[s]; open {
		// A schema being computed, or done in a group still open: a
		// recursion. Its partial fan-out counts the recursive reference
		// once (1 while it is still being computed).
		fc.cyclic[s] = true
		return max(fc.partial[s], 1), i
	}
	me := fc.next
	fc.next++
	fc.index[s] = me
	fc.open = append(fc.open, s)
	low := me
	// here: the schemas a value at s is checked against; below: the most a
	// member or item is checked against, under any of them.
	// A member or item is checked against one of properties,
	// additionalProperties, items and prefixItems (the largest of their
	// fan-outs), and also against every matching patternProperties schema,
	// contains, propertyNames and unevaluated* (theirs are added).
	here, below, extra := int64(1), int64(1), int64(0)
	visits, capped := 0, false
	var visit func(x *openapi3.Schema, depth int)
	visit = func(x *openapi3.Schema, depth int) {
		if x == nil {
			return
		}
		if visits++; depth > maxInlineDepth || visits > maxInlineVisits {
			capped = true
			return
		}
		if x.DynamicRef != "" {
			capped = true // resolved at validation: any schema of the document
		}
		dependent := make(openapi3.SchemaRefs, 0, len(x.DependentSchemas))
		for _, r := range x.DependentSchemas {
			dependent = append(dependent, r) // applied to the object itself, as allOf
		}
		for _, refs := range []openapi3.SchemaRefs{x.AllOf, x.OneOf, x.OneOf, x.AnyOf, x.AnyOf, dependent} {
			// oneOf and anyOf twice: kin-openapi checks the branch that
			// matched again (to set defaults, as a request is visited)
			for _, r := range refs {
				if r != nil && r.Value != nil {
					here++
					visit(r.Value, depth+1)
				}
			}
		}
		for _, r := range []*openapi3.SchemaRef{x.Not, x.If, x.Then, x.Else} {
			if r != nil && r.Value != nil {
				here++
				visit(r.Value, depth+1)
			}
		}
		one := []*openapi3.SchemaRef{x.Items, x.AdditionalProperties.Schema}
		for _, r := range x.Properties {
			one = append(one, r)
		}
		one = append(one, x.PrefixItems...)
		for _, r := range one {
			if r != nil && r.Value != nil {
				f, l := fc.of(r.Value)
				below, low = max(below, f), min(low, l)
			}
		}
		added := []*openapi3.SchemaRef{x.Contains, x.PropertyNames, x.UnevaluatedItems.Schema, x.UnevaluatedProperties.Schema}
		for _, r := range x.PatternProperties {
			added = append(added, r)
		}
		for _, r := range added {
			if r != nil && r.Value != nil {
				f, l := fc.of(r.Value)
				extra, low = min(extra+f, maxFanout), min(low, l)
			}
		}
	}
	visit(s, 0)
	f := min(here*min(below+extra, maxFanout), maxFanout)
	if capped {
		f = maxFanout
	}
	fc.partial[s] = f
	if low < me {
		return f, low // s's group is still open: its first schema decides
	}
	// s is the first schema of its group: the group is the open schemas
	// from s on. A recursion through a union makes all of them unbounded.
	at := slices.Index(fc.open, s)
	group := fc.open[at:]
	// The schemas of a group reach each other, so each may see what any
	// other sees: the group's largest fan-out is each one's (a partial
	// value taken before the group was complete is too small).
	gf := int64(0)
	for _, x := range group {
		gf = max(gf, fc.partial[x])
	}
	if (len(group) > 1 || fc.cyclic[s]) && slices.ContainsFunc(group, hasUnion) {
		gf = maxFanout
	}
	for _, x := range group {
		fc.memo[x] = gf
		delete(fc.index, x)
		delete(fc.partial, x)
	}
	fc.open = fc.open[:at]
	return fc.memo[s], math.MaxInt
}

// meter counts, down from *left, the (value, schema) pairs checking v
// against s visits, stopping once *left is negative. It follows the value:
// a member is counted only under the schemas that declare it (or take it
// as an additional property), so it is exact where fan-out is an upper
// bound.
func meter(v any, s *openapi3.Schema, left *int64, depth int) {
	if s == nil || *left < 0 {
		return
	}
	if depth > maxMeterDepth {
		*left = -1 // deeper than any body within the JSON limits: over budget
		return
	}
	*left--
	if n := int64(len(s.OneOf) + 2*len(s.AnyOf)); n > 0 {
		// kin-openapi copies the value for each branch it tries, and
		// checks the branch that matched a second time.
		before := *left
		chargeNodes(v, left)
		*left -= (n - 1) * (before - *left)
	}
	meterAll(v, s.AllOf, left, depth)
	meterAll(v, s.OneOf, left, depth)
	meterAll(v, s.OneOf, left, depth)
	meterAll(v, s.AnyOf, left, depth)
	meterAll(v, s.AnyOf, left, depth)
	for _, r := range s.DependentSchemas {
		if r != nil {
			meter(v, r.Value, left, depth+1)
		}
	}
	if s.Not != nil || s.If != nil || s.Then != nil || s.Else != nil {
		for _, r := range [...]*openapi3.SchemaRef{s.Not, s.If, s.Then, s.Else} {
			if r != nil {
				meter(v, r.Value, left, depth+1)
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, m := range x {
			if p := s.Properties[k]; p != nil {
				meter(m, p.Value, left, depth+1)
			} else if ap := s.AdditionalProperties.Schema; ap != nil {
				meter(m, ap.Value, left, depth+1)
			}
			for _, r := range [...]*openapi3.SchemaRef{s.PropertyNames, s.UnevaluatedProperties.Schema} {
				if r != nil {
					meter(k, r.Value, left, depth+1)
				}
			}
			for _, r := range s.PatternProperties {
				if r != nil {
					meter(m, r.Value, left, depth+1) // as if every pattern matched
				}
			}
		}
	case []any:
		for i, m := range x {
			switch {
			case i < len(s.PrefixItems) && s.PrefixItems[i] != nil:
				meter(m, s.PrefixItems[i].Value, left, depth+1)
			case s.Items != nil:
				meter(m, s.Items.Value, left, depth+1)
			}
			for _, r := range [...]*openapi3.SchemaRef{s.Contains, s.UnevaluatedItems.Schema} {
				if r != nil {
					meter(m, r.Value, left, depth+1)
				}
			}
		}
	}
}

// maxMeterDepth bounds meter's recursion: the schema depth it follows a
// value to (union members count, so it is above the JSON nesting limit).
const maxMeterDepth = 512

// chargeNodes counts the values in v down from *left, stopping once it is
// negative: the cost of copying v.
func chargeNodes(v any, left *int64) {
	if *left < 0 {
		return
	}
	*left--
	switch x := v.(type) {
	case map[string]any:
		for _, m := range x {
			chargeNodes(m, left)
		}
	case []any:
		for _, m := range x {
			chargeNodes(m, left)
		}
	}
}

func meterAll(v any, refs openapi3.SchemaRefs, left *int64, depth int) {
	for _, r := range refs {
		if r != nil {
			meter(v, r.Value, left, depth+1)
		}
	}
}

// withinBudget reports whether a body of size bytes under a schema of
// fanout f is within budget whatever its value: it cannot cost more than
// size*f units of work.
func withinBudget(size int, f, budget int64) bool {
	return f < maxFanout && (f <= 1 || f <= budget/max(int64(size), 1))
}

// overBudget returns a 413 *Error when checking val (parsed from size
// bytes) against s, of fan-out f, would take more than budget units. Most
// bodies are decided by size times fan-out (every value takes a byte);
// the others are metered, at a cost bounded by the budget itself.
func overBudget(val any, size int, s *openapi3.Schema, f, budget int64) *Error {
	if withinBudget(size, f, budget) {
		return nil
	}
	left := budget
	meter(val, s, &left, 0)
	if left >= 0 {
		return nil
	}
	return newError(ErrTooLarge, http.StatusRequestEntityTooLarge,
		"the request body is too large to validate against this schema (over "+strconv.FormatInt(budget, 10)+" units of work)", nil, nil)
}
