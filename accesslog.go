package gatekit

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/internal/problem"
)

// AccessLogConfig configures AccessLog. The zero value logs every request.
type AccessLogConfig struct {
	// Sample is the fraction of requests logged, from 0 to 1, drawn at
	// random per request. Requests answered 5xx and those of clients that
	// went away (499) are always logged. Zero means 1: every request.
	Sample float64
	// MinDuration, if positive, leaves out requests that took less
	// (unless answered 5xx or 499), so that only slow ones are logged.
	MinDuration time.Duration
}

// AccessLog returns middleware that logs one Info record "request" per
// request on log, once the next handler has returned (or panicked), with
// method, host, path, status, bytes_in (request body bytes read, or its
// Content-Length), bytes_out (response body bytes sent), duration, client
// (clientip.FromRequest), request_id (RequestID), proto, tls (the TLS
// version, on TLS connections), and what the stages inside recorded: route
// (the rule's Name) and backend (the Split side) from a route.Table,
// target and attempts from a proxy, cache (the cache's verdict), limit (a
// rate limiter's decision), shed (surge protection's), invalid
// (validation's rejection reason) and trace_id (TraceContext). Fields
// nothing recorded are left out. A request whose client went away before
// the response ended is logged with status 499, a value that is never
// sent.
//
// A nil log disables the middleware: it returns next unchanged. It returns
// an error for a Sample outside 0 to 1, a negative MinDuration, or a
// non-zero cfg with a nil log (the setting would do nothing). The
// middleware is safe for concurrent use and allocates nothing of its own
// per request beyond the one response writer the gateway's stages share.
func AccessLog(log *slog.Logger, cfg AccessLogConfig) (func(http.Handler) http.Handler, error) {
	if cfg.Sample < 0 || cfg.Sample > 1 {
		return nil, fmt.Errorf("gatekit: AccessLogConfig.Sample %v is outside 0 to 1", cfg.Sample)
	}
	if cfg.MinDuration < 0 {
		return nil, errors.New("gatekit: AccessLogConfig.MinDuration must not be negative")
	}
	if log == nil && cfg != (AccessLogConfig{}) {
		return nil, errors.New("gatekit: AccessLogConfig set without a logger, which disables the access log")
	}
	sample := cmp.Or(cfg.Sample, 1)
	return func(next http.Handler) http.Handler {
		if log == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw, owner := wrapWriter(w, r)
			returned := false
			defer func() {
				status := cmp.Or(rw.status, http.StatusOK)
				if errors.Is(r.Context().Err(), context.Canceled) && !rw.bodyStalled.Load() {
					status = problem.StatusClientClosedRequest
				}
				d := time.Since(start)
				always := status >= 500 || status == problem.StatusClientClosedRequest
				if always || d >= cfg.MinDuration && (sample >= 1 || rand.Float64() < sample) {
					logRequest(log, r, rw, status, d)
				}
				if owner && returned {
					rw.finish()
				}
			}()
			next.ServeHTTP(rw, r)
			returned = true
		})
	}, nil
}

// logRequest writes the access log record of r.
func logRequest(log *slog.Logger, r *http.Request, rw *responseWriter, status int, d time.Duration) {
	in := rw.bytesIn.Load()
	if in == 0 && r.ContentLength > 0 {
		in = r.ContentLength
	}
	attrs := [22]slog.Attr{
		slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.Int64("bytes_in", in), slog.Int64("bytes_out", rw.bytes),
		slog.Duration("duration", d), slog.String("client", clientip.FromRequest(r).String()),
		slog.String("request_id", RequestID(r.Context())), slog.String("proto", r.Proto),
	}
	n := 10
	add := func(key, v string) {
		if v != "" {
			attrs[n] = slog.String(key, v)
			n++
		}
	}
	if r.TLS != nil {
		add("tls", tls.VersionName(r.TLS.Version))
	}
	info := rw.RequestInfo()
	add("route", info.Rule)
	add("backend", info.Backend)
	add("target", info.Target)
	if info.Attempts > 0 {
		attrs[n] = slog.Int("attempts", info.Attempts)
		n++
	}
	add("cache", info.Cache)
	add("limit", info.Limit)
	add("shed", info.Shed)
	add("invalid", info.Invalid)
	add("trace_id", info.TraceID)
	log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs[:n]...)
}
