package cache

import (
	"net/http"
	"slices"
	"strconv"
)

// action is what a recorder does with the upstream response, decided when
// its header is written.
type action int

const (
	actPass       action = iota // forward to the client, do not store
	actStore                    // forward to the client and buffer for the store
	actRefresh                  // a 304 to our revalidation: swallow, refresh the stored response
	actStaleError               // an error while a stale response may be used: swallow, serve stale
)

// recorder is the http.ResponseWriter handed to the upstream handler. It
// has its own header map so a response can be swallowed; otherwise it
// copies the header to the client's writer when the status is written and
// streams the body through, buffering at most limit bytes for the store.
type recorder struct {
	w      http.ResponseWriter
	header http.Header
	decide func(status int, h http.Header) (action, string)
	limit  int64
	// drop names a field removed from the header passed to the client
	// (Config.TargetedCacheControl), or is empty.
	drop string

	action   action
	status   int
	wrote    bool
	buf      []byte
	tooLarge bool
	failed   bool // a write to the client failed: the body may be incomplete
}

// Header implements http.ResponseWriter.
func (rw *recorder) Header() http.Header { return rw.header }

// WriteHeader implements http.ResponseWriter. 1xx responses are passed on
// immediately; the final status is passed on unless it is swallowed.
func (rw *recorder) WriteHeader(code int) {
	if rw.wrote {
		return
	}
	if code >= 100 && code < 200 {
		// Send the informational header, then put the client's header map
		// back as it was for the final response.
		dst := rw.w.Header()
		saved := make(http.Header, len(rw.header))
		for k := range rw.header {
			if old, ok := dst[k]; ok {
				saved[k] = old
			}
		}
		copyHeader(dst, rw.header)
		if rw.drop != "" {
			delete(dst, rw.drop)
		}
		rw.w.WriteHeader(code)
		for k := range rw.header {
			if old, ok := saved[k]; ok {
				dst[k] = old
			} else {
				delete(dst, k)
			}
		}
		return
	}
	rw.wrote, rw.status = true, code
	var member string
	rw.action, member = rw.decide(code, rw.header)
	if rw.action != actPass && rw.action != actStore {
		return
	}
	if rw.action == actStore {
		if cl, err := strconv.ParseInt(rw.header.Get("Content-Length"), 10, 64); err == nil && cl <= rw.limit {
			rw.buf = make([]byte, 0, cl)
		}
	}
	dst := rw.w.Header()
	copyHeader(dst, rw.header)
	if rw.drop != "" {
		delete(dst, rw.drop)
	}
	if member != "" {
		dst["Cache-Status"] = append(dst["Cache-Status"][:len(dst["Cache-Status"]):len(dst["Cache-Status"])], member)
		recordVerdict(rw.w, member, false)
	}
	rw.w.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (rw *recorder) Write(p []byte) (int, error) {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.action != actPass && rw.action != actStore {
		return len(p), nil
	}
	if rw.action == actStore && !rw.tooLarge {
		if int64(len(rw.buf)+len(p)) > rw.limit {
			rw.tooLarge, rw.buf = true, nil
		} else {
			rw.buf = append(rw.buf, p...)
		}
	}
	n, err := rw.w.Write(p)
	if err != nil {
		rw.failed = true
	}
	return n, err
}

// Flush implements http.Flusher: it flushes the client's writer when the
// response is being passed on.
func (rw *recorder) Flush() {
	_ = rw.FlushError()
}

// FlushError flushes like Flush and returns the client writer's error;
// http.ResponseController prefers it.
func (rw *recorder) FlushError() error {
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.action != actPass && rw.action != actStore {
		return nil
	}
	return http.NewResponseController(rw.w).Flush()
}

// Unwrap returns the client's writer, for http.ResponseController.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.w }

// complete reports whether the recorded body is whole and storable.
func (rw *recorder) complete() bool {
	if rw.tooLarge || rw.failed {
		return false
	}
	if cl := rw.header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		return err == nil && n == int64(len(rw.buf))
	}
	return true
}

// discard is the client writer of background revalidations.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// copyHeader copies the response header src into the client's header map
// dst. A field src sets replaces what an outer handler put in dst before
// calling the middleware, except the list fields Vary, Set-Cookie, Link and
// Via: their values are appended to the outer ones, skipping values the
// outer handler already set (so a CORS layer's "Vary: Origin" is kept).
// dst never shares a backing array with src for a merged field.
func copyHeader(dst, src http.Header) {
	for k, v := range src {
		if !listField(k) {
			dst[k] = v // one map operation for most fields
			continue
		}
		old := dst[k]
		if len(old) == 0 {
			dst[k] = v
			continue
		}
		merged := old[:len(old):len(old)]
		for _, x := range v {
			if !slices.Contains(old, x) {
				merged = append(merged, x)
			}
		}
		dst[k] = merged
	}
}

// listField reports whether the canonical field name k is one whose values
// copyHeader merges.
func listField(k string) bool {
	switch k {
	case "Vary", "Set-Cookie", "Link", "Via":
		return true
	}
	return false
}
