package validate

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"

	"github.com/getkin/kin-openapi/openapi3"
)

// JSON nested in parameters and multipart parts. kin-openapi decodes a
// parameter declared with "content: application/json" and a multipart part
// whose Content-Type is JSON with encoding/json, which takes the last of
// duplicate keys and has no depth or size bounds. Such values are passed
// through the hardening parser first; kin-openapi then validates them.
// Form fields (application/x-www-form-urlencoded) are not JSON-decoded by
// kin-openapi and are not checked here.

// jsonContent reports whether a parameter is declared with a JSON media type.
func jsonContent(p *openapi3.Parameter) bool {
	for ct := range p.Content {
		if isJSON(mediaType(ct)) {
			return true
		}
	}
	return false
}

// paramRaw returns the raw values of p in r.
func paramRaw(r *http.Request, p *openapi3.Parameter, pathParams map[string]string, q url.Values) []string {
	switch p.In {
	case openapi3.ParameterInPath:
		if v, ok := pathParams[p.Name]; ok {
			return []string{v}
		}
	case openapi3.ParameterInQuery:
		return q[p.Name]
	case openapi3.ParameterInHeader:
		return r.Header.Values(p.Name)
	case openapi3.ParameterInCookie:
		if c, err := r.Cookie(p.Name); err == nil {
			return []string{c.Value}
		}
	}
	return nil
}

// checkJSONParam runs the hardening parser over a JSON content parameter;
// false when it failed (and was reported to c).
func (v *Validator) checkJSONParam(r *http.Request, p *openapi3.Parameter, pathParams map[string]string, q url.Values, c *collector) bool {
	for _, raw := range paramRaw(r, p, pathParams, q) {
		if _, err := parseJSON([]byte(raw), v.cfg.JSON); err != nil {
			je := err.(*jsonError)
			c.add(FieldError{In: p.In, Name: p.Name, Pointer: je.pointer(), Reason: je.reason})
			return false
		}
	}
	return true
}

// checkMultipartJSON runs the hardening parser over the parts of a
// multipart body whose Content-Type is JSON; false when one failed (and
// was reported to c). A body that does not parse as multipart is left to
// kin-openapi.
func (v *Validator) checkMultipartJSON(ct string, body []byte, c *collector) bool {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || params["boundary"] == "" {
		return true
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return true // io.EOF, or malformed: kin-openapi reports it
		}
		if !isJSON(mediaType(part.Header.Get("Content-Type"))) {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return true
		}
		if _, err := parseJSON(data, v.cfg.JSON); err != nil {
			je := err.(*jsonError)
			c.add(FieldError{In: "body", Reason: "multipart part: " + je.reason})
			return false
		}
	}
}
