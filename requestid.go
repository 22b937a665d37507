package gatekit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gatekit/gatekit/internal/header"
)

// RequestIDHeader is the header that carries the request ID in both directions.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader in canonical form, for direct map access.
const requestIDKey = "X-Request-Id"

type requestIDCtxKey struct{}

// RequestID returns the request ID assigned by AssignRequestID (and so by
// a Gateway) to the request carrying ctx, or "" outside one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// AssignRequestID returns middleware that gives every request an ID: the
// client's X-Request-ID when it is well-formed (1 to 128 characters from
// letters, digits and "-_.:", safe in logs and headers) and not declared
// hop-by-hop in Connection, otherwise newID() (nil: 16 random bytes in
// hex). The ID is set on the request passed on (a copy: the inbound
// request is never modified), on the response and in the context for
// RequestID. The middleware is safe for concurrent use if newID is.
func AssignRequestID(newID func() string) func(http.Handler) http.Handler {
	if newID == nil {
		newID = randomID
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := ""
			if vs := r.Header[requestIDKey]; len(vs) == 1 && validRequestID(vs[0]) && !header.HasToken(r.Header["Connection"], requestIDKey) {
				id = vs[0]
			}
			keep := id != ""
			if !keep {
				id = newID()
			}
			r = r.WithContext(context.WithValue(r.Context(), requestIDCtxKey{}, id))
			if !keep {
				h := r.Header.Clone()
				if h == nil {
					h = http.Header{}
				}
				h[requestIDKey] = []string{id}
				r.Header = h
			}
			w.Header()[requestIDKey] = []string{id}
			next.ServeHTTP(w, r)
		})
	}
}

// validRequestID reports whether an incoming request ID may be kept: 1 to
// 128 characters from a conservative set, so that it is safe in logs and headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
