package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"

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
	roots   []any
	targets []func(*jsonschema.Schema)
}

// add queues s to be compiled; set receives the result.
func (ss *set2020) add(s *openapi3.SchemaRef, set func(*jsonschema.Schema)) {
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return
	}
	ss.roots = append(ss.roots, root)
	ss.targets = append(ss.targets, set)
}

// compile compiles every queued schema. A schema that does not compile
// (an external $ref, a keyword the library refuses) is left out: kin-openapi
// alone validates it.
func (ss *set2020) compile(doc *openapi3.T) {
	if len(ss.roots) == 0 {
		return
	}
	schemas := map[string]any{}
	if doc.Components != nil && len(doc.Components.Schemas) > 0 {
		b, err := json.Marshal(doc.Components.Schemas)
		if err != nil {
			return
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		schemas = m
	}
	const loc = "urn:gatekit:openapi"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.UseRegexpEngine(func(expr string) (jsonschema.Regexp, error) { return compilePattern(expr) })
	res := map[string]any{"components": map[string]any{"schemas": schemas}, "x-gatekit-bodies": ss.roots}
	rewrite2020(res, schemas)
	registerFormats(c, res)
	if err := c.AddResource(loc, res); err != nil {
		return
	}
	for i, set := range ss.targets {
		s, err := c.Compile(loc + "#/x-gatekit-bodies/" + strconv.Itoa(i))
		if err == nil {
			set(s)
		}
	}
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
