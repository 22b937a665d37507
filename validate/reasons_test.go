package validate

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestExtraPropertyNamed: an undeclared property is named in the reason
// when its name is plain, in 3.0 and 3.1 documents and rules; other names
// are not repeated.
func TestExtraPropertyNamed(t *testing.T) {
	const doc = `openapi: %s
info: {title: t, version: "1"}
paths:
  /x:
    post:
      requestBody:
        content:
          application/json:
            schema: {type: object, additionalProperties: false, properties: {a: {type: string}}%s}
      responses: {"200": {description: ok}}
`
	v30 := mustLoad(t, strings.Replace(strings.Replace(doc, "%s", "3.0.3", 1), "%s", "", 1), Config{})
	v31 := mustLoad(t, strings.Replace(strings.Replace(doc, "%s", "3.1.0", 1), "%s", ", propertyNames: {maxLength: 80}", 1), Config{})
	rules, err := NewRules(Config{Rules: []Rule{{Path: "/x", Schema: []byte(`{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*Validator{"3.0": v30, "3.1": v31, "rule": rules} {
		for body, want := range map[string]string{
			`{"a":"x","color":1}`:    `property "color" is not allowed`,
			`{"a":"x","<b>x</b>":1}`: "a property is not allowed here",
		} {
			r := httptest.NewRequest("POST", "/x", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			_, err := v.ValidateRequest(r, []byte(body))
			var e *Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Reason != want {
				t.Errorf("%s: %s: %v %+v, want one field with reason %q", name, body, err, fieldsOf(err), want)
			}
		}
	}
}
