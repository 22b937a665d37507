package validate

import (
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/pathcanon"
)

// Path canonicalisation. Operations and rules are matched against one
// canonical form of the request path, so that spelling variants a backend
// treats as the same path ("/upload/", "//upload", "/./upload",
// "/%75pload", "/upload;x=1") cannot skip a rule or, with
// PassThroughUnknown, the spec.

// canonicalPath returns the canonical escaped path of r (pathcanon's strict
// rules, the same as route's: percent-encoded unreserved characters decoded, dot segments, empty
// segments, encoded separators, backslashes, controls and invalid UTF-8
// refused), or a 400 *Error. A ';' (a path parameter, which servlet
// containers and others strip before routing) is refused too, except at
// the start of a segment when the spec has matrix-style path parameters
// (";id=5"). ok is false for a request-target that is not a path (the
// asterisk form of OPTIONS, CONNECT's authority form): it matches nothing.
func (v *Validator) canonicalPath(r *http.Request) (p string, ok bool, e *Error) {
	raw := r.URL.EscapedPath()
	if raw == "" || raw[0] != '/' {
		return "", false, nil
	}
	p, err := pathcanon.Path(raw)
	if err != nil {
		return "", false, badPath(pathcanon.Reason(err))
	}
	if strings.IndexByte(p, ';') >= 0 {
		for _, seg := range strings.Split(p[1:], "/") {
			if strings.IndexByte(seg, ';') >= 0 && (!v.matrix || seg[0] != ';') {
				return "", false, badPath("path parameters (;) are not accepted")
			}
		}
	}
	return p, true, nil
}

func badPath(reason string) *Error {
	c := &collector{max: 1}
	c.add(FieldError{In: "path", Reason: reason})
	return newError(ErrInvalid, http.StatusBadRequest, "the request path is not in canonical form", c, nil)
}

// withoutTrailingSlash returns p without its trailing slash, and whether it
// had one ("/" has none to remove). A path with a trailing slash that no
// template matches is matched as the path without it: many backends route
// "/upload/" to "/upload".
func withoutTrailingSlash(p string) (string, bool) {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1], true
	}
	return p, false
}
