package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Rejections against OpenAPI 3.1 schemas with 2020-12 keywords. kin-openapi
// compiles a JSON Schema validator for such a schema on every call (~1 ms),
// so each invalid request cost that much: a CPU amplifier. The validator is
// compiled here once, at load, from the same serialisation kin-openapi uses
// (the schema, with component $refs resolved inside the document's
// components) and with the same library. A body it rejects is answered
// from its errors; a body it accepts still goes to kin-openapi, whose
// verdict stays authoritative for acceptance (formats, which this
// validator does not assert, are checked there).

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
	err := safely(func() error { return s.Validate(val) })
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return false
	}
	walkErrors(c, "body", ve)
	return true
}
