package route

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatekit/gatekit/internal/header"
	"github.com/gatekit/gatekit/internal/problem"
	"github.com/gatekit/gatekit/pathcanon"
)

// buildHandler builds a rule's chain once: Middleware, then Rewrite, then
// Mirror, then the Handler, Split or Redirect.
func (t *Table) buildHandler(rl *Rule) (http.Handler, error) {
	n := 0
	for _, set := range []bool{rl.Handler != nil, len(rl.Split) > 0, rl.Redirect != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one of Handler, Split and Redirect must be set")
	}
	if len(rl.Split) == 0 && (rl.SplitKey != nil || rl.SplitHeader != "") {
		return nil, errors.New("SplitKey and SplitHeader apply to a Split only")
	}
	var h http.Handler
	switch {
	case rl.Handler != nil:
		h = rl.Handler
	case rl.Redirect != nil:
		rd, err := newRedirect(*rl.Redirect)
		if err != nil {
			return nil, err
		}
		h = rd
	default:
		sp, err := newSplit(rl.Split, rl.SplitKey, rl.SplitHeader)
		if err != nil {
			return nil, err
		}
		h = sp
	}
	if rl.Mirror != nil {
		if rl.Redirect != nil {
			return nil, errors.New("Mirror cannot be combined with Redirect")
		}
		mh, err := t.newMirror(*rl.Mirror, h)
		if err != nil {
			return nil, err
		}
		h = mh
	}
	if rl.Rewrite != nil {
		rw, err := newRewrite(*rl.Rewrite, t.cfg.Path, h)
		if err != nil {
			return nil, err
		}
		h = rw
	}
	for i := len(rl.Middleware) - 1; i >= 0; i-- {
		if rl.Middleware[i] == nil {
			return nil, fmt.Errorf("Middleware[%d] is nil", i)
		}
		if h = rl.Middleware[i](h); h == nil {
			return nil, fmt.Errorf("Middleware[%d] returned a nil handler", i)
		}
	}
	return h, nil
}

// redirect answers with a Location built from the request and its fields.
type redirect struct{ Redirect }

func newRedirect(rd Redirect) (*redirect, error) {
	switch rd.Scheme {
	case "", "http", "https":
	default:
		return nil, fmt.Errorf("redirect scheme %q must be http or https", rd.Scheme)
	}
	if rd.Host != "" {
		if u, err := url.Parse("http://" + rd.Host); err != nil || u.Host != rd.Host || u.User != nil {
			return nil, fmt.Errorf("invalid redirect host %q", rd.Host)
		}
	}
	if rd.Path != "" {
		if c, err := pathcanon.Path(rd.Path); err != nil || c != rd.Path {
			return nil, fmt.Errorf("redirect path %q is not canonical", rd.Path)
		}
	}
	switch rd.Status {
	case 0:
		rd.Status = http.StatusFound
	case 301, 302, 303, 307, 308:
	default:
		return nil, fmt.Errorf("redirect status %d is not 301, 302, 303, 307 or 308", rd.Status)
	}
	return &redirect{rd}, nil
}

func (rd *redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme := rd.Scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	loc := scheme + "://" + cmp.Or(rd.Host, r.Host) + cmp.Or(rd.Path, r.URL.EscapedPath())
	if !rd.StripQuery && r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(rd.Status)
}

// rewrite changes the path, host and headers of a shallow copy of the request.
type rewrite struct {
	Rewrite
	opts pathcanon.Options
	next http.Handler
}

func newRewrite(rw Rewrite, opts pathcanon.Options, next http.Handler) (*rewrite, error) {
	for _, p := range []string{rw.ReplacePath, rw.StripPrefix, rw.AddPrefix} {
		if p == "" {
			continue
		}
		if c, err := pathcanon.Path(p); err != nil || c != p {
			return nil, fmt.Errorf("rewrite path %q is not canonical", p)
		}
	}
	if strings.HasSuffix(rw.AddPrefix, "/") || strings.HasSuffix(rw.StripPrefix, "/") {
		return nil, errors.New("rewrite AddPrefix and StripPrefix must not end with '/'")
	}
	if rw.Host != "" && (strings.Contains(rw.Host, "*") || checkHost(rw.Host) != nil) {
		return nil, fmt.Errorf("invalid rewrite host %q", rw.Host)
	}
	for k, v := range rw.SetHeaders {
		if !header.IsToken(k) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("invalid rewrite header %q", k)
		}
	}
	for _, k := range rw.RemoveHeaders {
		if !header.IsToken(k) {
			return nil, fmt.Errorf("invalid rewrite header %q", k)
		}
	}
	return &rewrite{Rewrite: rw, opts: opts, next: next}, nil
}

// rewritePath applies ReplacePath, StripPrefix and AddPrefix to a
// canonical path.
func (rw *rewrite) rewritePath(p string) string {
	if rw.ReplacePath != "" {
		p = rw.ReplacePath
	}
	if sp := rw.StripPrefix; sp != "" && strings.HasPrefix(p, sp) && (len(p) == len(sp) || p[len(sp)] == '/') {
		p = p[len(sp):]
		if p == "" {
			p = "/"
		}
	}
	if rw.AddPrefix != "" {
		p = rw.AddPrefix + p
	}
	return p
}

func (rw *rewrite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r2 := r.WithContext(r.Context())
	u := *r.URL
	p, err := rw.opts.Canonical(rw.rewritePath(u.EscapedPath()))
	if err != nil {
		problem.Write(w, http.StatusInternalServerError, "")
		return
	}
	u.RawPath = p
	u.Path, _ = url.PathUnescape(p)
	r2.URL = &u
	if rw.Host != "" {
		r2.Host = rw.Host
	}
	if len(rw.SetHeaders) > 0 || len(rw.RemoveHeaders) > 0 {
		r2.Header = r.Header.Clone()
		if r2.Header == nil {
			r2.Header = http.Header{}
		}
		for _, k := range rw.RemoveHeaders {
			r2.Header.Del(k)
		}
		for k, v := range rw.SetHeaders {
			r2.Header.Set(k, v)
		}
	}
	rw.next.ServeHTTP(w, r2)
}

// mirror sends a bounded copy of each request to a shadow handler.
type mirror struct {
	t       *Table
	shadow  http.Handler
	maxBody int64
	timeout time.Duration
	next    http.Handler
}

func (t *Table) newMirror(mc Mirror, next http.Handler) (*mirror, error) {
	if mc.Handler == nil {
		return nil, errors.New("Mirror has no Handler")
	}
	if mc.MaxBody < 0 || mc.Timeout < 0 {
		return nil, errors.New("Mirror MaxBody and Timeout must not be negative")
	}
	return &mirror{t: t, shadow: mc.Handler, maxBody: cmp.Or(mc.MaxBody, 64<<10), timeout: cmp.Or(mc.Timeout, 10*time.Second), next: next}, nil
}

// acquire reserves a mirror slot; the caller must call release.
func (t *Table) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	select {
	case t.sem <- struct{}{}:
		t.wg.Add(1)
		return true
	default:
		return false
	}
}

func (t *Table) release() {
	<-t.sem
	t.wg.Done()
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := m.t
	if !t.acquire() {
		t.mirrorDropped.Add(1)
		m.next.ServeHTTP(w, r)
		return
	}
	var bs bodyState
	bs.load(r, m.maxBody)
	r2 := r.WithContext(r.Context())
	bs.restore(r2)
	if !bs.full {
		t.release()
		t.mirrorSkipped.Add(1)
		m.next.ServeHTTP(w, r2)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), m.timeout)
	if rm, ok := FromContext(ctx); ok {
		cp := *rm // the split may still write the client's Match
		ctx = context.WithValue(ctx, ctxKey{}, &cp)
	}
	stop := context.AfterFunc(t.stopCtx, cancel)
	shadow := r.Clone(ctx)
	data := bs.data
	if len(data) == 0 {
		shadow.Body, shadow.GetBody = http.NoBody, nil
	} else {
		shadow.Body = io.NopCloser(bytes.NewReader(data))
		shadow.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	shadow.ContentLength = int64(len(data))
	t.mirrored.Add(1)
	go func() {
		defer t.release()
		defer cancel()
		defer stop()
		defer func() {
			if recover() != nil {
				t.mirrorPanics.Add(1)
			}
		}()
		m.shadow.ServeHTTP(&discard{h: http.Header{}}, shadow)
	}()
	m.next.ServeHTTP(w, r2)
}

// discard is the response writer of mirrored requests.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header { return d.h }

func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func (d *discard) WriteHeader(int) {}
