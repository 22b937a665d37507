package balancer

import (
	"sync/atomic"
	"unsafe"
)

// wrappedDone is a wrapper policy's done function for one target, built
// around the wrapped policy's done for it, so that picks through the
// wrapper allocate nothing: policies return a done function bound once
// per target (or per target and snapshot), and the wrapper reuses its own
// as long as the wrapped one is the same.
type wrappedDone struct {
	inner func(Result)
	fn    func(Result) // the wrapper's done, calling inner
}

// doneCache holds the current wrappedDone of one target for one wrapper.
type doneCache struct{ cur atomic.Pointer[wrappedDone] }

// get returns the wrapper's done around inner, building it with mk when
// inner is not the one the cached done was built around.
func (c *doneCache) get(inner func(Result), mk func(inner func(Result)) func(Result)) func(Result) {
	if w := c.cur.Load(); w != nil && sameFunc(w.inner, inner) {
		return w.fn
	}
	w := &wrappedDone{inner: inner, fn: mk(inner)}
	c.cur.Store(w)
	return w.fn
}

// sameFunc reports whether f and g are the same function value (the same
// closure or bound method value), not merely the same code. A func value
// is a pointer to its closure; Go offers no other way to compare two.
func sameFunc(f, g func(Result)) bool {
	return *(*unsafe.Pointer)(unsafe.Pointer(&f)) == *(*unsafe.Pointer)(unsafe.Pointer(&g))
}
