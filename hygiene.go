package gatekit

import (
	"cmp"
	"errors"
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/internal/problem"
)

// Defaults of HygieneConfig.
const (
	// DefaultMaxHeaderCount is the most request header fields accepted (431 above).
	DefaultMaxHeaderCount = 100
	// DefaultMaxURILength is the longest request target accepted, in bytes (414 above).
	DefaultMaxURILength = 8 << 10
	// DefaultMaxBodyBytes is the largest request body accepted, in bytes (413 above).
	DefaultMaxBodyBytes = 1 << 20
)

// HygieneConfig configures the Hygiene middleware. The zero value of each
// field selects the default documented on it.
type HygieneConfig struct {
	// MaxHeaderCount is the most request header fields accepted; a request
	// with more is answered 431. If zero, DefaultMaxHeaderCount.
	MaxHeaderCount int
	// MaxURILength is the longest request target accepted in bytes; a longer
	// one is answered 414. If zero, DefaultMaxURILength.
	MaxURILength int
	// MaxBodyBytes is the largest request body accepted, in bytes: a larger
	// declared Content-Length is answered 413 at once, and reading past it
	// fails with *http.MaxBytesError (the proxy answers 413). If zero,
	// DefaultMaxBodyBytes (1 MiB). Routes that take uploads need a larger
	// value here or their own Gateway.
	MaxBodyBytes int64
	// InsecureAllowUnderscoreHeaders lets header names containing '_' through.
	// By default such requests are answered 400, because proxies and
	// frameworks disagree on whether X_Forwarded_For means X-Forwarded-For.
	InsecureAllowUnderscoreHeaders bool
}

// Hygiene returns middleware that rejects requests a gateway should not
// pass on, with problem+json and the request ID (see AssignRequestID) as
// instance:
//
//   - the PRI method (the HTTP/2 connection preface sent over HTTP/1) and
//     the asterisk-form target "*" with any method but OPTIONS: 400 and
//     Connection: close;
//   - a header name with '_' (unless InsecureAllowUnderscoreHeaders): 400;
//   - more than MaxHeaderCount header fields: 431;
//   - a target longer than MaxURILength: 414;
//   - a declared body longer than MaxBodyBytes: 413 (an undeclared one
//     fails to read past it with *http.MaxBytesError).
//
// It also applies the client's Connection header: the headers it names are
// hop-by-hop, meant for the gateway, so they are removed from the request
// passed on, and so is Connection itself except for an Upgrade token.
// Without this a client could name headers the gateway sets (the request
// ID) or that route rewrites set, and have the reverse proxy strip them on
// the way upstream. The inbound request is never modified.
//
// It returns an error for a negative limit. The middleware is safe for
// concurrent use.
func Hygiene(cfg HygieneConfig) (func(http.Handler) http.Handler, error) {
	if cfg.MaxHeaderCount < 0 || cfg.MaxURILength < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("gatekit: MaxHeaderCount, MaxURILength and MaxBodyBytes must not be negative")
	}
	maxHeaders := cmp.Or(cfg.MaxHeaderCount, DefaultMaxHeaderCount)
	maxURI := cmp.Or(cfg.MaxURILength, DefaultMaxURILength)
	maxBody := cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	underscores := cfg.InsecureAllowUnderscoreHeaders
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := RequestID(r.Context())
			if status, detail := checkRequest(r, maxHeaders, maxURI, underscores); status != 0 {
				if status == http.StatusBadRequest && (r.Method == "PRI" || r.RequestURI == "*") {
					w.Header().Set("Connection", "close")
				}
				problem.WriteDetails(w, problem.Details{Status: status, Detail: detail, Instance: id})
				return
			}
			if r.ContentLength > maxBody {
				problem.WriteDetails(w, problem.Details{Status: http.StatusRequestEntityTooLarge, Detail: "request body too large", Instance: id})
				return
			}
			copied := false
			if len(r.Header["Connection"]) > 0 {
				r, copied = r.WithContext(r.Context()), true
				r.Header = r.Header.Clone()
				keep := ""
				if id != "" {
					keep = requestIDKey // AssignRequestID already replaced a hop-by-hop ID
				}
				consumeConnection(r.Header, keep)
			}
			if r.Body != nil && r.Body != http.NoBody {
				if !copied {
					r = r.WithContext(r.Context())
				}
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// checkRequest applies the request hygiene limits and returns a non-zero
// status with a fixed detail text for a request to reject.
func checkRequest(r *http.Request, maxHeaders, maxURI int, underscores bool) (int, string) {
	if r.Method == "PRI" {
		return http.StatusBadRequest, "the PRI method is the HTTP/2 preface and is not served over HTTP/1"
	}
	if r.RequestURI == "*" && r.Method != http.MethodOptions {
		return http.StatusBadRequest, "the asterisk-form target is only valid with OPTIONS"
	}
	if len(r.RequestURI) > maxURI {
		return http.StatusRequestURITooLong, "request target too long"
	}
	n := 0
	for name, vs := range r.Header {
		n += len(vs)
		if !underscores && strings.IndexByte(name, '_') >= 0 {
			return http.StatusBadRequest, "header names must not contain underscores"
		}
	}
	if n > maxHeaders {
		return http.StatusRequestHeaderFieldsTooLarge, "too many header fields"
	}
	return 0, ""
}

// consumeConnection applies the client's Connection header to h: the
// headers it names are removed, except keep (canonical form, "" for
// none), and so is Connection itself except for an Upgrade token.
func consumeConnection(h http.Header, keep string) {
	vs := h["Connection"]
	if len(vs) == 0 {
		return
	}
	upgrade := false
	for _, v := range vs {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			switch {
			case tok == "":
			case strings.EqualFold(tok, "upgrade"):
				upgrade = true
			case keep != "" && strings.EqualFold(tok, keep):
			default:
				h.Del(tok)
			}
		}
	}
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
	} else {
		delete(h, "Connection")
	}
}
