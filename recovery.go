package gatekit

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatekit/gatekit/internal/problem"
)

// Recover returns middleware that turns a panic in the next handler into a
// response. If nothing was sent yet, whatever the handler had set
// (cookies, Location) is dropped and the client gets 500 problem+json with
// the request ID (see AssignRequestID) and never the panic text. If the
// response had started, the connection is aborted (http.ErrAbortHandler),
// so that a half-written response cannot look complete. The panic value is
// logged at Error on log; a nil log is silent. http.ErrAbortHandler itself
// passes through unlogged. The middleware is safe for concurrent use.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw, owner := wrapWriter(w, r)
			defer func() {
				p := recover()
				if p == http.ErrAbortHandler {
					panic(p)
				}
				if p == nil {
					if owner {
						rw.finish()
					}
					return
				}
				id := RequestID(r.Context())
				if log != nil {
					log.Error("panic serving request", "request_id", id, "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				}
				if rw.status != 0 {
					panic(http.ErrAbortHandler)
				}
				h := rw.Header()
				clear(h)
				if id != "" {
					h[requestIDKey] = []string{id}
				}
				problem.WriteDetails(rw, problem.Details{Status: http.StatusInternalServerError, Instance: id})
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
