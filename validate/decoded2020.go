package validate

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// OpenAPI 3.1 values that kin-openapi decodes (parameters of every style,
// content parameters, form, multipart and text bodies) and whose schemas
// use 2020-12 keywords: kin-openapi's own decoders make the value, and the
// validator compiled at load (jsonschema2020.go) judges it, so that
// kin-openapi never compiles one per request.

// decodeOnlyParam returns a copy of p, and the schema in it, that makes
// kin-openapi decode a parameter's value (of any style, or of its JSON
// content) as it always does and hand it over without judging it: the
// schema (p's, or its JSON content's) is also the false schema, which its
// decoders ignore and its visitor checks before anything else, so that
// kin-openapi's "boolean" error carries the decoded value; "nullable" is
// cleared (no effect in 3.1). kin-openapi still reports an absent
// required parameter and a value it cannot decode.
func decodeOnlyParam(p *openapi3.Parameter) (*openapi3.Parameter, *openapi3.Schema) {
	c := *p
	ref := p.Schema
	if p.Content != nil {
		ref = p.Content.Get("application/json").Schema
	}
	s := *ref.Value
	never := false
	s.Nullable, s.Always = false, &never
	sr := &openapi3.SchemaRef{Ref: ref.Ref, Value: &s}
	if p.Content == nil {
		c.Schema = sr
	} else {
		m := *p.Content.Get("application/json")
		m.Schema = sr
		c.Content = openapi3.Content{"application/json": &m}
	}
	return &c, &s
}

// checkParam2020 judges a parameter whose 3.1 schema needs the 2020-12
// validator: its value, decoded here for the common shapes and by
// kin-openapi otherwise (decodeOnlyParam), is validated by the validator
// compiled at load. in must say OpenAPI 3.0 (in30).
func (v *Validator) checkParam2020(ctx context.Context, in *openapi3filter.RequestValidationInput, p *opParam, pathParams pathValues, c *collector) {
	var val any
	present, ok := false, false
	if p.shape != nil {
		val, present, ok = p.shape.decode(in.Request, pathParams, &query{vals: in.QueryParams, parsed: true})
		if ok && !present && !p.Required {
			return
		}
	}
	if !ok || !present {
		err := safely(func() error { return openapi3filter.ValidateParameter(ctx, in, p.decodeOnly) })
		var se *openapi3.SchemaError
		switch {
		case err == nil:
			return // absent and optional, or empty and allowed to be
		case errors.As(err, &se) && se.Schema == p.decodeSchema && se.SchemaField == "boolean":
			val = se.Value
		case errors.Is(err, errPanic):
			v.logPanic(in.Request, err)
			c.add(FieldError{In: p.In, Name: p.Name, Reason: reasonNotValidated})
			return
		default:
			c.addKin(p.In, p.Name, err)
			return
		}
	}
	if rejected, passed := check2020(p.v2020, val, c, p.In, p.Name); !rejected && !passed {
		v.logPanic(in.Request, "2020-12 validator")
		c.add(FieldError{In: p.In, Name: p.Name, Reason: reasonNotValidated})
	}
}

// checkDecoded2020 judges a non-JSON body (form, multipart, text) whose 3.1
// schema uses 2020-12 keywords with the validator compiled at load, on the
// value kin-openapi's body decoder for its media type makes of it (what
// kin-openapi would validate, with a validator compiled per call). It
// reports whether the verdict is settled; a body that does not decode is
// not, and kin-openapi reports it (decoding fails before any schema).
func (v *Validator) checkDecoded2020(r *http.Request, m *match, rb *openapi3.RequestBody, body []byte, c *collector) bool {
	ct := r.Header.Get("Content-Type")
	cs := m.op.decoded2020[rb.Content.Get(ct)]
	if cs == nil {
		return false
	}
	kin := rb
	if m.op.formBody != nil {
		kin = m.op.formBody
	}
	media := kin.Content.Get(ct)
	decode := openapi3filter.RegisteredBodyDecoder(mediaType(ct))
	if media == nil || decode == nil {
		return false
	}
	enc := func(name string) *openapi3.Encoding { return media.Encoding[name] }
	var val any
	err := safely(func() (err error) {
		val, err = decode(bytes.NewReader(body), r.Header, media.Schema, enc)
		return err
	})
	if err != nil {
		return false
	}
	if rejected, passed := check2020(cs, val, c, "body", ""); !rejected && !passed {
		v.logPanic(r, "2020-12 validator")
		c.add(FieldError{In: "body", Reason: reasonNotValidated})
	}
	return true
}
