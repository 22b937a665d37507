package validate

import "testing"

const docForms = `openapi: 3.0.3
info: {title: forms, version: "1"}
paths:
  /untyped:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              properties: {name: {type: string}, age: {type: integer}}
      responses: {"200": {description: ok}}
  /required:
    post:
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [token]
              properties: {name: {type: string}}
          multipart/form-data:
            schema:
              required: [token]
              properties: {name: {type: string}}
      responses: {"200": {description: ok}}
`

// TestFormSchemasAsOpenAPIMeansThem: a form schema without "type: object"
// and a required field outside "properties" validate the fields that are
// there, instead of rejecting every request.
func TestFormSchemasAsOpenAPIMeansThem(t *testing.T) {
	v := mustLoad(t, docForms, Config{})
	const form = "application/x-www-form-urlencoded"
	const multi = "multipart/form-data; boundary=XB"
	part := func(name, value string) string {
		return "--XB\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	checkVerdicts(t, v, []verdictCase{
		{method: "POST", target: "/untyped", ct: form, body: `name=x&age=3`, ok: true},
		{method: "POST", target: "/untyped", ct: form, body: `name=x&age=x`, ok: false},
		{method: "POST", target: "/required", ct: form, body: `token=abc&name=x`, ok: true},
		{method: "POST", target: "/required", ct: form, body: `name=x`, ok: false},
		{method: "POST", target: "/required", ct: multi, body: part("token", "abc") + part("name", "x") + "--XB--\r\n", ok: true},
		{method: "POST", target: "/required", ct: multi, body: part("name", "x") + "--XB--\r\n", ok: false},
	})
}
