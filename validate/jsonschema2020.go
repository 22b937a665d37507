package validate

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// OpenAPI 3.1 schemas with 2020-12 keywords. kin-openapi compiles a JSON
// Schema validator for such a schema on every call (1-30 ms for the
// schemas of large real documents, up to 200 ms), a CPU amplifier. The
// validator is compiled here once, at load, from the same serialisation
// kin-openapi uses (the schema, with component $refs resolved inside the
// document's components), with the same library and the same format
// checks, and rewritten for requests (rewrite2020) so that it also says
// what kin-openapi's OpenAPI visitor says about readOnly properties and
// discriminators. Its verdict is final both ways: such bodies never reach
// kin-openapi.

// set2020 compiles the JSON Schema 2020-12 validators of a document.
type set2020 struct {
	forbid  string // "readOnly" for request schemas, "writeOnly" for response ones (rewrite2020); "" is readOnly
	roots   []any
	ops     []*operation
	targets []func(*jsonschema.Schema)
	failed  []uncompiled
}

// uncompiled is a schema of op that the 2020-12 validator could not be
// compiled from.
type uncompiled struct {
	op  *operation
	err error
}

// add queues s, a schema of op, to be compiled; set receives the result.
func (ss *set2020) add(s *openapi3.SchemaRef, op *operation, set func(*jsonschema.Schema)) {
	b, err := json.Marshal(s)
	if err != nil {
		ss.failed = append(ss.failed, uncompiled{op, err})
		return
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		ss.failed = append(ss.failed, uncompiled{op, err})
		return
	}
	ss.roots = append(ss.roots, root)
	ss.ops = append(ss.ops, op)
	ss.targets = append(ss.targets, set)
}

// compile compiles every queued schema and returns those that did not
// compile (an external $ref, a keyword the library refuses).
func (ss *set2020) compile(doc *openapi3.T) []uncompiled {
	if len(ss.roots) == 0 {
		return ss.failed
	}
	failAll := func(err error) []uncompiled {
		for _, op := range ss.ops {
			ss.failed = append(ss.failed, uncompiled{op, err})
		}
		return ss.failed
	}
	schemas := map[string]any{}
	if doc.Components != nil && len(doc.Components.Schemas) > 0 {
		b, err := json.Marshal(doc.Components.Schemas)
		if err != nil {
			return failAll(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return failAll(err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return failAll(errors.New("components.schemas is not an object"))
		}
		schemas = m
	}
	const loc = "urn:gatekit:openapi"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.UseRegexpEngine(func(expr string) (jsonschema.Regexp, error) { return compilePattern(expr) })
	res := map[string]any{"components": map[string]any{"schemas": schemas}, "x-gatekit-bodies": ss.roots}
	rewrite2020(res, schemas, cmp.Or(ss.forbid, "readOnly"))
	registerFormats(c, res)
	if err := c.AddResource(loc, res); err != nil {
		return failAll(err)
	}
	for i, set := range ss.targets {
		s, err := c.Compile(loc + "#/x-gatekit-bodies/" + strconv.Itoa(i))
		if err != nil {
			ss.failed = append(ss.failed, uncompiled{ss.ops[i], err})
			continue
		}
		set(s)
	}
	return ss.failed
}

// skipUncompiled refuses the document for operations with a schema the
// 2020-12 validator could not be compiled from (kin-openapi would compile
// one, and fail, on every request), or with Config.SkipBrokenOperations
// skips those operations, listing them in Skipped.
func (v *Validator) skipUncompiled(failed []uncompiled) error {
	if len(failed) == 0 {
		return nil
	}
	var problems []Problem
	for _, f := range failed {
		reason, _, _ := strings.Cut(f.err.Error(), "\n")
		problems = append(problems, Problem{Pointer: f.op.pointer, Reason: "a schema cannot be compiled as JSON Schema 2020-12: " + clip(reason, 200)})
		if v.cfg.SkipBrokenOperations {
			*f.op = operation{method: f.op.method, entry: f.op.entry, pointer: f.op.pointer, skipped: true}
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Pointer < problems[j].Pointer })
	if !v.cfg.SkipBrokenOperations {
		return &LoadError{Problems: problems}
	}
	v.skipped = append(v.skipped, problems...)
	sort.SliceStable(v.skipped, func(i, j int) bool { return v.skipped[i].Pointer < v.skipped[j].Pointer })
	return nil
}

// reject2020 validates val with a compiled 2020-12 validator and reports
// its failures to c; false when val passed (kin-openapi must still judge it).
func reject2020(s *jsonschema.Schema, val any, c *collector) bool {
	rejected, _ := check2020(s, val, c, "body", "")
	return rejected
}

// check2020 validates val with a compiled 2020-12 validator. rejected: val
// fails, and the failures were reported to c (as in and name). passed: val passes. Neither:
// the validator panicked, and kin-openapi must judge val.
func check2020(s *jsonschema.Schema, val any, c *collector, in, name string) (rejected, passed bool) {
	err := safely(func() error { return s.Validate(val) })
	if err == nil {
		return false, true
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return false, false
	}
	n := len(c.fields)
	walkErrors(c, in, ve)
	for i := n; i < len(c.fields); i++ {
		c.fields[i].Name = name
	}
	return true, false
}

// registerFormats makes c check the formats used in res as kin-openapi
// checks them: strings by the validators of formatValidators and
// kin-openapi's registry, int32 and int64 by range; other formats are
// annotations.
func registerFormats(c *jsonschema.Compiler, res any) {
	names := map[string]bool{}
	var collect func(n any)
	collect = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			if f, ok := n["format"].(string); ok && f != "" {
				names[f] = true
			}
			for _, x := range n {
				collect(x)
			}
		case []any:
			for _, x := range n {
				collect(x)
			}
		}
	}
	collect(res)
	ours := formatValidators()
	for name := range names {
		str := ours[name]
		if str == nil {
			str = openapi3.SchemaStringFormats[name]
		}
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
			switch v := v.(type) {
			case string:
				if str != nil {
					return str.Validate(v)
				}
			case json.Number:
				return intFormat(name, v)
			}
			return nil
		}})
	}
	c.AssertFormat()
}

var errIntFormat = errors.New("integer out of the format's range")

// intFormat checks the range of an integral number of format int32 or int64.
func intFormat(format string, n json.Number) error {
	if format != "int32" && format != "int64" {
		return nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) {
		return nil
	}
	if format == "int32" && (f < math.MinInt32 || f > math.MaxInt32) || f < math.MinInt64 || f >= math.MaxInt64 {
		return errIntFormat
	}
	return nil
}
