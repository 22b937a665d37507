package validate

import "testing"

// TestCookieArraysAndObjects: array and object cookies are read in the
// unexploded form clients send (ids=1,2), and an optional one may be
// absent.
func TestCookieArraysAndObjects(t *testing.T) {
	v := mustLoad(t, `openapi: 3.0.3
info: {title: cookies, version: "1"}
paths:
  /c:
    get:
      parameters:
        - {name: ids, in: cookie, schema: {type: array, items: {type: integer}}}
        - {name: obj, in: cookie, schema: {type: object, properties: {a: {type: string}, n: {type: integer}}}}
        - {name: need, in: cookie, required: true, explode: false, schema: {type: array, items: {type: string}}}
      responses: {"200": {description: ok}}
`, Config{})
	checkVerdicts(t, v, []verdictCase{
		{method: "GET", target: "/c", cookie: "need=a", ok: true},
		{method: "GET", target: "/c", cookie: "need=a; ids=1,2", ok: true},
		{method: "GET", target: "/c", cookie: "need=a; ids=1,x", ok: false},
		{method: "GET", target: "/c", cookie: "need=a; obj=a,x,n,3", ok: true},
		{method: "GET", target: "/c", cookie: "need=a; obj=a,x,n,y", ok: false},
		{method: "GET", target: "/c", cookie: "ids=1", ok: false},
	})
}
