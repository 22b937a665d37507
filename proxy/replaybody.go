package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
)

// replayBody holds a request body so that it can be sent to more than one
// target. A body of at most the limit is read into memory before the first
// attempt and replayed in full; a larger one (or one of unknown length that
// turns out larger) is streamed once, and may be sent again only when the
// previous attempt never read a byte of it.
type replayBody struct {
	buf  []byte        // the whole body when full, else the prefix already read
	full bool          // buf holds the whole body
	rest io.ReadCloser // the client body after buf, when not full
	cur  *attemptBody  // the streaming attempt that owns rest

	// tee, when positive, is how much of a streamed body is recorded in
	// buf as the first attempt reads it (a gRPC call's, see newGRPCBody);
	// teeFull is set once that attempt read the whole body within it.
	tee     int64
	teeFull atomic.Bool
}

// newReplayBody prepares body (of length cl, -1 if unknown) for replay with
// a memory limit of limit bytes (negative: never buffer).
func newReplayBody(body io.ReadCloser, cl, limit int64) (*replayBody, error) {
	rb := &replayBody{rest: body}
	if limit < 0 || cl > limit {
		return rb, nil
	}
	if cl < 0 {
		// Unknown length: grow the buffer as it fills (most such
		// bodies are small), up to one byte past the limit.
		buf, err := io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return nil, &ClientBodyError{Err: err}
		}
		rb.buf = buf
		if int64(len(buf)) <= limit {
			rb.full, rb.rest = true, nil
			body.Close()
		}
		return rb, nil
	}
	n := cl
	buf := make([]byte, n)
	m, err := io.ReadFull(body, buf)
	switch {
	case err == nil:
		rb.full = true
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return nil, &ClientBodyError{Err: io.ErrUnexpectedEOF}
	default:
		return nil, &ClientBodyError{Err: err}
	}
	rb.buf = buf[:m]
	if rb.full {
		rb.rest = nil
		body.Close()
	}
	return rb, nil
}

// attempt returns the body for the next attempt and sets req.Body (and,
// for a buffered body of an idempotent request, req.GetBody, so that the
// Transport may re-send it on its own). A non-idempotent request never
// gets GetBody: net/http's HTTP/2 Transport re-sends a request whose
// stream was reset after the whole body went out when it can rewind the
// body, which would duplicate it.
func (rb *replayBody) attempt(req *http.Request, idempotent bool) {
	if rb.teeFull.Load() {
		rb.full, rb.rest = true, nil
	}
	if rb.full {
		req.Body = io.NopCloser(bytes.NewReader(rb.buf))
		req.GetBody = nil
		if idempotent {
			req.GetBody = rb.getBody
		}
		return
	}
	ab := &attemptBody{rb: rb, r: io.MultiReader(bytes.NewReader(rb.buf), rb.rest)}
	rb.cur = ab
	req.Body = ab
	req.GetBody = nil
}

func (rb *replayBody) getBody() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(rb.buf)), nil
}

// rewindable reports whether the body can be sent again: it is buffered,
// or the streaming attempt never read a byte (and now never will).
func (rb *replayBody) rewindable() bool {
	if rb == nil || rb.full || rb.teeFull.Load() {
		return true
	}
	return rb.cur == nil || rb.cur.state.CompareAndSwap(attemptFresh, attemptDetached)
}

// close closes the client body if it is still open.
func (rb *replayBody) close() {
	if rb != nil && rb.rest != nil {
		rb.rest.Close()
	}
}

const (
	attemptFresh int32 = iota
	attemptRead
	attemptDetached
)

// attemptBody is a streaming request body for one attempt. Closing it
// does not close the client body (a later attempt may still need it).
type attemptBody struct {
	rb    *replayBody
	r     io.Reader
	state atomic.Int32
}

var errBodyDetached = errors.New("proxy: request body handed to another attempt")

func (ab *attemptBody) Read(p []byte) (int, error) {
	if ab.state.Load() != attemptRead && !ab.state.CompareAndSwap(attemptFresh, attemptRead) {
		return 0, errBodyDetached
	}
	n, err := ab.r.Read(p)
	if ab.rb.tee > 0 {
		ab.rb.record(p[:n], err)
	}
	if err != nil && err != io.EOF {
		err = &ClientBodyError{Err: err}
	}
	return n, err
}

func (ab *attemptBody) Close() error { return nil }
