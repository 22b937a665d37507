package cache

import (
	"bytes"
	"context"
	"encoding/gob"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/internal/header"
)

// A Store holds cache entries by key. It is best effort: a Set may be
// dropped and an entry may disappear at any time, and the cache treats
// either as a miss. Implementations must be safe for concurrent use.
//
// Entries passed to Set and returned by Get are shared and must not be
// modified by anyone. After Close, Get misses and Set and Delete do nothing.
type Store interface {
	// Get returns the entry stored under key.
	Get(ctx context.Context, key string) (*Entry, bool)
	// Set stores e under key for at most ttl (ttl > 0).
	Set(ctx context.Context, key string, e *Entry, ttl time.Duration)
	// Delete removes the entry stored under key, if any.
	Delete(ctx context.Context, key string)
	// Close releases the store's resources. It is idempotent.
	Close() error
}

var (
	_ Store = (*MemoryStore)(nil)
	_ Store = (*RistrettoStore)(nil)
)

// A Purger is a Store shared by several Caches (such as a Redis store)
// that can purge by key prefix and by tag itself, so a purge reaches
// entries stored by every Cache using it. Cache.PurgePrefix and
// Cache.PurgeTag call it when their store implements it. prefix is matched
// against keys without their method (see Cache.PurgePrefix); tags are
// those of the stored Responses. Both return the number of keys removed.
type Purger interface {
	// PurgePrefix removes every entry whose key without its method (the
	// text after the first space, e.g. "https://example.com/api/x?y=1")
	// starts with prefix, and returns how many it removed.
	PurgePrefix(ctx context.Context, prefix string) (int, error)
	// PurgeTag removes every entry one of whose variants carries tag in
	// Response.Tags, and returns how many it removed.
	PurgeTag(ctx context.Context, tag string) (int, error)
}

// An Entry is what a Store holds under one primary key: the stored
// responses (variants, selected by Vary) for one method and URL.
// An Entry is immutable once stored.
type Entry struct {
	// Variants are the stored responses, oldest first.
	Variants []*Response
}

// A Response is one stored response and the facts about it that freshness
// and Age calculations need (RFC 9111 §4.2). It is immutable once stored.
// Middleware copies Header's value slices (not their elements) into the
// client's header map; their capacity equals their length, so Header.Add
// reallocates, but a handler must not assign to an element in place. On a
// gatekit Server's own HTTP/1 loop a fresh hit is written from Header
// serialised on its first hit and kept with the Response (about the size
// of the header again), and the slices reach the header map only when a
// handler looks at it afterwards.
type Response struct {
	// Status is the response status code.
	Status int
	// Header is the stored header: hop-by-hop fields, Age and fields
	// excluded by qualified no-cache/private directives are removed.
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// Vary lists the canonical names of the request headers this response
	// varies on, sorted; VaryValues holds their normalised values in the
	// request that produced it.
	Vary       []string
	VaryValues string
	// Tags are the surrogate keys from Surrogate-Key and Cache-Tag.
	Tags []string
	// RequestTime and ResponseTime are when the request that produced
	// the response was sent and when the response was received.
	RequestTime, ResponseTime time.Time
	// InitialAge is the corrected initial age (RFC 9111 §4.2.3).
	InitialAge time.Duration
	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1).
	Lifetime time.Duration
	// StaleWhileRevalidate and StaleIfError are the windows the response
	// allows (RFC 5861); negative means the directive was absent.
	StaleWhileRevalidate, StaleIfError time.Duration
	// MustRevalidate forbids serving the response stale (must-revalidate,
	// proxy-revalidate or s-maxage).
	MustRevalidate bool
	// NoCache requires successful revalidation before every reuse.
	NoCache bool

	// prep is Header serialised for the Server's own loop, made on the
	// first hit that writes through it (see prepared).
	prep atomic.Pointer[header.Prepared]
}

// unpreparable marks a Response whose header cannot be written prepared.
var unpreparable = new(header.Prepared)

// prepared returns resp's header serialised (made on first use and kept),
// or nil when it has a framing field a writer must see in its map.
func (resp *Response) prepared() *header.Prepared {
	if p := resp.prep.Load(); p != nil {
		if p == unpreparable {
			return nil
		}
		return p
	}
	p := header.Prepare(resp.Header)
	if p == nil {
		resp.prep.Store(unpreparable)
		return nil
	}
	resp.prep.Store(p) // a concurrent first use stores an equal value
	return p
}

// Age returns the response's current age at now (RFC 9111 §4.2.3).
func (r *Response) Age(now time.Time) time.Duration {
	resident := now.Sub(r.ResponseTime)
	if resident < 0 {
		resident = 0
	}
	return r.InitialAge + resident
}

// Size returns the number of bytes e is accounted as: body, header and a
// fixed overhead per variant.
func (e *Entry) Size() int64 {
	const overhead = 256
	var n int64
	for _, r := range e.Variants {
		n += overhead + int64(len(r.Body)+len(r.VaryValues))
		for k, vs := range r.Header {
			for _, v := range vs {
				n += int64(len(k) + len(v) + 4)
			}
		}
		for _, t := range r.Tags {
			n += int64(len(t))
		}
	}
	return n
}

// MarshalBinary encodes e for stores that hold bytes (encoding/gob).
func (e *Entry) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	// An unnamed struct, so that gob does not call MarshalBinary again.
	if err := gob.NewEncoder(&b).Encode(struct{ Variants []*Response }{e.Variants}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalBinary decodes data written by MarshalBinary into e. It
// returns an error for undecodable data and for a variant that is nil or
// whose Status is not a final status code (200-999).
func (e *Entry) UnmarshalBinary(data []byte) error {
	var v struct{ Variants []*Response }
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&v); err != nil {
		return err
	}
	for _, r := range v.Variants {
		// Stored statuses are final ones; anything outside 200-999 is
		// corrupt (and would make WriteHeader panic below 100 or above 999).
		if r == nil || r.Status < 200 || r.Status > 999 {
			return errCorrupt
		}
		clipHeader(r.Header)
	}
	e.Variants = v.Variants
	return nil
}

// clipHeader limits every value slice's capacity to its length, so that a
// caller appending to a header copied from a stored response reallocates
// instead of writing into the shared backing array.
func clipHeader(h http.Header) {
	for k, vs := range h {
		h[k] = vs[:len(vs):len(vs)]
	}
}
