package validate

import (
	"errors"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// authenticate checks the operation's security requirements: the request
// passes when every scheme of at least one requirement is satisfied. A
// scheme is satisfied when its credential is present and Config.Authenticate
// accepts it.
func (v *Validator) authenticate(r *http.Request, op *operation, body []byte) *Error {
	forbidden := false
	var names []string
	for _, req := range op.security {
		ok := true
		for _, s := range req {
			if !credentialPresent(r, s.scheme) {
				ok = false
				names = appendUnique(names, s.name)
				break
			}
			err := safely(func() error {
				return v.cfg.Authenticate(r.Context(), &AuthInput{Request: r, Body: body, SchemeName: s.name, Scheme: s.scheme, Scopes: s.scopes})
			})
			if err != nil {
				if errors.Is(err, errPanic) {
					v.logPanic(r, err)
				}
				if errors.Is(err, ErrForbidden) {
					forbidden = true
				}
				ok = false
				names = appendUnique(names, s.name)
				break
			}
		}
		if ok {
			return nil
		}
	}
	c := &collector{max: v.cfg.MaxErrors}
	if forbidden {
		return newError(ErrForbidden, http.StatusForbidden, "the credentials do not grant access to this operation", nil, nil)
	}
	for _, n := range names {
		c.add(FieldError{In: "security", Name: n, Reason: "missing or invalid credentials"})
	}
	e := newError(ErrUnauthorized, http.StatusUnauthorized, "valid credentials are required", c, nil)
	e.Challenge = challenge(op)
	return e
}

// challenge lists the auth-schemes of the operation's http, oauth2 and
// openIdConnect security schemes for WWW-Authenticate (RFC 9110 11.6.1).
func challenge(op *operation) string {
	var out []string
	for _, req := range op.security {
		for _, s := range req {
			var c string
			switch s.scheme.Type {
			case "http":
				if strings.EqualFold(s.scheme.Scheme, "basic") {
					c = `Basic realm="api", charset="UTF-8"`
				} else if s.scheme.Scheme != "" {
					c = http.CanonicalHeaderKey(strings.ToLower(s.scheme.Scheme))
				}
			case "oauth2", "openIdConnect":
				c = "Bearer"
			}
			if c != "" {
				out = appendUnique(out, c)
			}
		}
	}
	return strings.Join(out, ", ")
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// credentialPresent reports whether r carries the credential scheme names
// exactly once, without judging it. A credential given twice (two header
// lines, two query values, two cookies) counts as absent: the hook would see
// the first and a backend might use the last.
func credentialPresent(r *http.Request, s *openapi3.SecurityScheme) bool {
	switch s.Type {
	case "apiKey":
		switch s.In {
		case "header":
			return single(r.Header.Values(s.Name))
		case "query":
			return single(r.URL.Query()[s.Name])
		case "cookie":
			ck, err := r.Cookie(s.Name)
			return err == nil && ck.Value != "" && cookieCount(r, s.Name) == 1
		}
		return false
	case "http":
		auth := r.Header.Values("Authorization")
		if len(auth) != 1 {
			return false
		}
		scheme, cred, ok := strings.Cut(auth[0], " ")
		return ok && strings.TrimSpace(cred) != "" && strings.EqualFold(scheme, s.Scheme)
	case "oauth2", "openIdConnect":
		auth := r.Header.Values("Authorization")
		if len(auth) != 1 {
			return false
		}
		scheme, cred, ok := strings.Cut(auth[0], " ")
		return ok && strings.TrimSpace(cred) != "" && strings.EqualFold(scheme, "bearer")
	case "mutualTLS":
		return r.TLS != nil && len(r.TLS.PeerCertificates) > 0
	}
	return false
}

// single reports whether vals holds exactly one non-empty value.
func single(vals []string) bool { return len(vals) == 1 && vals[0] != "" }
