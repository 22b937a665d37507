package validate

import (
	"github.com/gatekit/gatekit/internal/reqinfo"

	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Middleware returns middleware that validates each request with v before
// calling the next handler. Rejected requests are answered through
// Config.ErrorHandler and never reach next.
//
// The body is read once, under the size limit: a Content-Length over it is
// answered 413 without reading, and a body without Content-Length is read
// at most one byte past the limit. The next handler gets a request whose
// Body replays the exact bytes the client sent (unless Config.InjectDefaults
// changed them), with ContentLength and GetBody set to match. Requests
// without a body are passed on unchanged, but for their path.
//
// The next handler gets the path in the canonical form it was validated in
// (URL.RawPath the canonical escaped path, URL.Path its decoding: "/v%31"
// arrives as "/v1"), which is the form route.Table matches and passes on,
// so that validation, routing and the backend agree on one path; paths
// that are not canonical in a way a backend could read differently are
// rejected before (see the package doc).
//
// With Config.Responses set, responses of spec operations are buffered (up
// to Config.MaxResponseBytes) and validated; see ResponseMode. Buffering
// delays the first byte until the handler returns, so leave it off for
// streaming APIs.
func Middleware(v *Validator) func(http.Handler) http.Handler {
	handler := v.cfg.ErrorHandler
	reject := func(w http.ResponseWriter, r *http.Request, err error) {
		reason := v.stats.countReason(err)
		if info := reqinfo.From(w); info != nil {
			info.Invalid = reason // for the access log around the validator
		}
		handler(w, r, err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m, err := v.find(r)
			if err != nil {
				reject(w, r, err)
				return
			}
			if m.op == nil && len(m.rules) == 0 {
				// Nothing to check (an unknown path passed through, or no
				// rule matches): the request, body included, goes on untouched.
				v.stats.count(nil)
				next.ServeHTTP(w, canonical(r, m.path))
				return
			}
			body, err := readBody(r, m.limit)
			if err != nil {
				reject(w, r, err)
				return
			}
			out, err := v.check(r, m, body)
			if err != nil {
				reject(w, r, err)
				return
			}
			v.stats.count(nil)
			fwd := r
			if body != nil {
				fwd = r.WithContext(r.Context())
				setBody(fwd, out)
				if len(out) != len(body) && fwd.Header.Get("Content-Length") != "" {
					// InjectDefaults re-encoded the body.
					fwd.Header = r.Header.Clone()
					fwd.Header.Set("Content-Length", strconv.Itoa(len(out)))
				}
			}
			fwd = canonical(fwd, m.path)
			if v.cfg.Responses == ResponseOff || m.op == nil {
				next.ServeHTTP(w, fwd)
				return
			}
			v.serveValidatingResponse(w, fwd, m, next)
		})
	}
}

// canonical returns r, or a shallow copy of it whose URL carries the
// canonical escaped path p (RawPath p, Path its decoding) when r spells it
// differently, so that the next handler sees the path that was validated,
// as route.Table passes its requests on.
func canonical(r *http.Request, p string) *http.Request {
	if p == "" || p == r.URL.EscapedPath() {
		return r
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return r
	}
	c := *r
	u := *r.URL
	u.Path, u.RawPath = dec, p
	c.URL = &u
	return &c
}

// readBody reads r's body, refusing more than limit bytes. It returns nil
// when r has no body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	// Read at most limit+1 bytes: one past the limit proves it is exceeded.
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(min(limit, mbe.Limit))
		}
		return nil, newError(ErrInvalid, http.StatusBadRequest, "the request body could not be read", nil, err)
	}
	if int64(buf.Len()) > limit {
		return nil, tooLarge(limit)
	}
	return buf.Bytes(), nil
}

// setBody makes r (a copy of the inbound request) carry b as its body.
func setBody(r *http.Request, b []byte) {
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	if len(b) == 0 {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
