package gatekit

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
)

// AccessLog returns middleware that logs one Info record "request" per
// request on log, once the next handler has returned (or panicked), with
// method, host, path, status, bytes (of the body sent), duration, client
// (clientip.FromRequest), request_id (RequestID), proto and, when a
// route.Table served the request, route (the rule's Name) and backend (the
// Split backend that served it, if the rule has a Split). A request whose
// client went away before the response ended is logged with status 499, a
// value that is never sent. A nil log disables the middleware: it returns
// next unchanged. The middleware is safe for concurrent use.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if log == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw, owner := wrapWriter(w)
			returned := false
			defer func() {
				status := cmp.Or(rw.status, http.StatusOK)
				if errors.Is(r.Context().Err(), context.Canceled) && !rw.bodyStalled {
					status = problem.StatusClientClosedRequest
				}
				attrs := [11]slog.Attr{
					slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", r.URL.Path),
					slog.Int("status", status), slog.Int64("bytes", rw.bytes), slog.Duration("duration", time.Since(start)),
					slog.String("client", clientip.FromRequest(r).String()), slog.String("request_id", RequestID(r.Context())),
					slog.String("proto", r.Proto),
				}
				n := 9
				if m := rw.match; m != nil {
					attrs[n] = slog.String("route", m.Name)
					n++
					if m.Backend != "" {
						attrs[n] = slog.String("backend", m.Backend)
						n++
					}
				}
				log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs[:n]...)
				if owner && returned {
					rw.finish()
				}
			}()
			next.ServeHTTP(rw, r)
			returned = true
		})
	}
}
