// Package cache is an RFC 9111 shared HTTP cache for gateways that never
// hands one user's response to another.
//
// A [Cache] (the engine) stores responses in a [Store] — by default a
// ristretto cache bounded in bytes — and [Middleware] (the adapter) answers
// requests from it: freshness from s-maxage, max-age, Expires or a
// heuristic; Age; request and response directives; Vary with normalised
// values; conditional requests and revalidation; single byte ranges
// served from stored complete responses; stale-while-revalidate and
// stale-if-error; invalidation after unsafe requests; request coalescing;
// purge by key, prefix and surrogate tag; and an RFC 9211 Cache-Status field
// on every response.
//
// # Whose directives
//
// A response's directives for this cache come from the first of these it
// carries: the gateway's own targeted field (Config.TargetedCacheControl,
// e.g. Gatekit-Cache-Control, removed before the response leaves),
// CDN-Cache-Control (RFC 9213), Surrogate-Control addressed to all
// surrogates or to Config.Name, and Cache-Control. For backends that send
// no freshness information, Config.Freshness sets a lifetime per status
// code, as nginx's proxy_cache_valid does.
//
// # Negative responses and invalidation
//
// A stored 404 or 410 is served like any other response while fresh, so an
// item created behind the gateway stays hidden until the stored response
// expires, a successful POST, PUT, PATCH or DELETE to its URI invalidates
// it, or it is purged. Config.NegativeFreshness caps that time or stops
// such responses being stored. Invalidation needs the cache to see the
// unsafe request: when Middleware is mounted on GET routes only, mount
// [Invalidator] with the same Cache on the routes that write.
//
// # Security
//
// The cache is shared: a response to a request carrying Authorization or
// Cookie is stored only when the response explicitly allows it (public,
// s-maxage, or must-revalidate for Authorization), and a response carrying
// Set-Cookie or private is never stored or handed to a coalesced waiter.
// Refusing Set-Cookie responses is stricter than RFC 9111, which lets a
// shared cache store them, because a stored cookie would reach every
// later client; a response whose no-cache="set-cookie" or
// private="set-cookie" directive excludes the field is stored without it,
// and Config.InsecureStoreSetCookie stores the others too.
// Config.Freshness never applies to a response that is private by rule.
// The same rules apply to the header that results from merging a 304 into
// a stale stored response: when it fails them, the 304 answers only the
// client that caused the revalidation and the stored response is purged.
// Nothing is decided by file extension. Headers commonly reflected by
// backends but absent from the key (X-Forwarded-Host, X-Original-URL, ...)
// are stripped from requests the cache handles, and GET or HEAD requests
// with a body bypass the cache.
package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotCached is passed to Config.ErrorHandler when a request with
// "Cache-Control: only-if-cached" has no usable stored response; the default
// handler answers 504 Gateway Timeout (RFC 9111 §5.2.1.7).
var ErrNotCached = errors.New("cache: only-if-cached and no stored response")

// maxVariants bounds the number of Vary variants stored per key.
const maxVariants = 16

// Config configures a Cache. The zero value of each field selects the
// default documented on it.
type Config struct {
	// MaxBytes bounds the default store (used when New gets a nil Store),
	// in bytes of stored headers and bodies. If zero, 64 MiB.
	MaxBytes int64
	// MaxKeys bounds the number of keys this Cache stores and indexes for
	// PurgePrefix and PurgeTag (about 150 bytes each); beyond it an
	// arbitrary key is dropped. If zero, 131072.
	MaxKeys int
	// MaxObjectSize is the largest response body stored, in bytes. Larger
	// responses stream through unbuffered and are not stored. If zero, 1 MiB.
	MaxObjectSize int64
	// Name is this cache's identifier in Cache-Status. If empty, "gatekit".
	Name string
	// CoalesceTimeout bounds how long a request waits for a concurrent
	// identical request's response before going upstream itself.
	// If zero, 5s; negative disables coalescing. A request with no-cache
	// (Cache-Control or Pragma) shares only the response of an upstream
	// request that started after it arrived, which comes from the origin
	// after it as RFC 9111 §5.2.1.4 asks; it first waits for one already
	// running, so no-cache clients cannot bypass coalescing (at most one
	// upstream request per key at a time). A request with no-store never
	// waits.
	CoalesceTimeout time.Duration
	// StaleIfError is how long after expiry a response may be served when
	// revalidation fails (error 500, 502, 503 or 504) if the response has no
	// stale-if-error directive of its own and does not forbid stale use
	// (must-revalidate, proxy-revalidate, s-maxage, no-cache).
	// If zero, 60s; negative disables the default.
	StaleIfError time.Duration
	// StaleWhileRevalidate is the default stale-while-revalidate window for
	// responses without the directive, under the same conditions as
	// StaleIfError. If zero, none: only the response's directive applies.
	StaleWhileRevalidate time.Duration
	// StaleRetention is how long a stale response with validators is kept
	// beyond its stale windows, for conditional revalidation and max-stale.
	// If zero, 10m.
	StaleRetention time.Duration
	// QueryInclude, when non-empty, lists the only query parameters kept;
	// QueryExclude lists parameters removed. Both apply to the cache key
	// and to the request forwarded upstream, so the key is always computed
	// from exactly the query the backend receives.
	QueryInclude, QueryExclude []string
	// StripRequestHeaders are removed from every GET and HEAD request the
	// middleware handles. If nil, DefaultStripHeaders(); an empty non-nil
	// slice removes nothing.
	StripRequestHeaders []string
	// TargetedCacheControl names this gateway's own targeted cache-control
	// field (RFC 9213), such as "Gatekit-Cache-Control": when a response
	// carries it as a valid structured-field dictionary, its directives
	// replace those of CDN-Cache-Control, Surrogate-Control and
	// Cache-Control for this cache,
	// and the field is removed from every response before it leaves the
	// middleware, since no one beyond the gateway is meant to read it.
	// If empty, none. It may not be Cache-Control or CDN-Cache-Control.
	TargetedCacheControl string
	// IgnoreCDNCacheControl makes the cache ignore CDN-Cache-Control
	// (RFC 9213), which it otherwise obeys in place of Cache-Control when
	// a response carries it as a valid dictionary, and passes on
	// unchanged for caches further down. Set it when a CDN in front of
	// the gateway is meant to be the only reader.
	IgnoreCDNCacheControl bool
	// IgnoreSurrogateControl makes the cache ignore Surrogate-Control (the
	// Edge Architecture 1.0 field for caches an origin's operator runs),
	// whose max-age and no-store it otherwise obeys in place of
	// Cache-Control, after TargetedCacheControl and CDN-Cache-Control,
	// when they are addressed to all surrogates or to Name. The cache
	// then also stops announcing itself upstream with
	// Surrogate-Capability: <Name>="Surrogate/1.0".
	IgnoreSurrogateControl bool
	// Freshness gives a response with a listed status code that carries no
	// freshness information of its own (no max-age or s-maxage in the
	// directives this cache obeys, no Expires) that freshness lifetime, as
	// nginx's proxy_cache_valid does, in place of the heuristic from
	// Last-Modified; such a response is stored even without validators.
	// It never applies to a response that is private by rule: to a request
	// with Authorization, to a request with Cookie unless
	// StoreCookieRequests, to a response with Set-Cookie, and not to
	// private, no-store or Vary: * responses, which are not stored at all.
	// Keys are status codes 200-599 other than 206 and 304 (never stored),
	// values positive; New refuses 404 and 410 with a negative
	// NegativeFreshness. If nil, none.
	Freshness map[int]time.Duration
	// NegativeFreshness caps the freshness lifetime of stored 404 Not Found
	// and 410 Gone responses, whatever their own directives or Freshness
	// say. A stored negative response is served like any other while
	// fresh, so an item created behind the gateway stays hidden until the
	// stored 404 expires, a successful unsafe request to its URI
	// invalidates it (Middleware or Invalidator), or it is purged; the cap
	// bounds that time. If zero, no cap; negative: 404 and 410 responses
	// are never stored.
	NegativeFreshness time.Duration
	// InsecureStoreSetCookie stores responses carrying Set-Cookie (or
	// Set-Cookie2) under the other rules, cookie included, as RFC 9111
	// allows: every client served from the store then receives the cookie
	// set for the one whose request fetched the response. If false, they
	// are never stored or shared, unless a no-cache or private directive
	// naming the field excludes it from the stored copy.
	InsecureStoreSetCookie bool
	// StoreCookieRequests stores responses to requests carrying Cookie under
	// the normal rules. If false, they are stored only when the response
	// says public or s-maxage.
	StoreCookieRequests bool
	// MaxRevalidations bounds concurrent background revalidations
	// (stale-while-revalidate); beyond it the stale response is served
	// without a refresh. If zero, 16.
	MaxRevalidations int
	// RevalidateTimeout bounds one background revalidation. If zero, 30s.
	RevalidateTimeout time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// ErrorHandler writes the response when the cache itself answers with
	// an error (err is ErrNotCached). If nil, an RFC 9457 problem response.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Cache is the cache engine. It is safe for concurrent use by multiple
// goroutines and must not be copied. Close it to stop background
// revalidations and release the store.
type Cache struct {
	cfg   Config
	store Store
	now   func() time.Time

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgSem    chan struct{}
	bg       sync.WaitGroup
	closed   atomic.Bool

	mu sync.Mutex // guards flights, index, tagIndex, bgRunning and bg.Add after close
	// bgRunning counts running background revalidations; bgIdle is
	// signalled when it drops to zero (Wait).
	bgRunning int
	bgIdle    sync.Cond
	// flights are the upstream requests in progress by flight key.
	flights map[string]*flight
	// flightSeq counts the flights started; written with mu held.
	flightSeq atomic.Uint64
	// index maps each key stored by this Cache to its tags and the
	// generation at which it was indexed.
	index map[string]indexed
	// indexGen counts indexings; written with mu held.
	indexGen atomic.Uint64
	// tagIndex maps a tag to the keys carrying it.
	tagIndex map[string]map[string]struct{}

	stats struct{ hits, misses, stores, coalesced, revalidations, stale atomic.Uint64 }

	// storeBorrows is set when store is one of this package's, whose Get
	// keeps nothing of the key: Middleware then looks keys up through a
	// view of a pooled buffer instead of a new string (see borrowKey).
	storeBorrows bool

	// strip is cfg.StripRequestHeaders as a set (see stripSet).
	strip   stripSet
	keyBufs sync.Pool // *[]byte key buffers
	// hit holds the Age and Cache-Status values of fresh hits.
	hit *hitValues
	// passMethod is the recorder decision of a request whose method is
	// not cached (see handler.other), bound once.
	passMethod func(int, http.Header) (action, string)
	// fwdMethod is its Cache-Status member.
	fwdMethod string

	// waitHook, when set by tests, is called when a request starts waiting for a flight.
	waitHook func()
}

// Stats are cumulative counters of a Cache.
type Stats struct {
	// Hits are requests answered from a stored response without contacting upstream.
	Hits uint64
	// Misses are requests forwarded upstream (including revalidations and bypasses).
	Misses uint64
	// Stores counts responses handed to the store.
	Stores uint64
	// Coalesced counts requests answered with another request's response.
	Coalesced uint64
	// Revalidations counts conditional requests sent upstream, background ones included.
	Revalidations uint64
	// Stale counts stale responses served (max-stale, stale-while-revalidate, stale-if-error).
	Stale uint64
}

// New returns a Cache on store. If store is nil, a RistrettoStore bounded
// by cfg.MaxBytes is created. The Cache owns the store: Close closes it.
// New returns an error for negative sizes, counts or timeouts that are not
// documented as meaningful.
func New(store Store, cfg Config) (*Cache, error) {
	switch {
	case cfg.MaxBytes < 0:
		return nil, fmt.Errorf("cache: negative MaxBytes %d", cfg.MaxBytes)
	case cfg.MaxObjectSize < 0:
		return nil, fmt.Errorf("cache: negative MaxObjectSize %d", cfg.MaxObjectSize)
	case cfg.MaxKeys < 0:
		return nil, fmt.Errorf("cache: negative MaxKeys %d", cfg.MaxKeys)
	case cfg.MaxRevalidations < 0:
		return nil, fmt.Errorf("cache: negative MaxRevalidations %d", cfg.MaxRevalidations)
	case cfg.StaleWhileRevalidate < 0, cfg.StaleRetention < 0, cfg.RevalidateTimeout < 0:
		return nil, errors.New("cache: negative StaleWhileRevalidate, StaleRetention or RevalidateTimeout")
	case strings.ContainsAny(cfg.Name, "\",;= \t\r\n"):
		return nil, fmt.Errorf("cache: Name %q is not a token", cfg.Name)
	case !validFreshness(cfg.Freshness, cfg.NegativeFreshness):
		return nil, errors.New("cache: Freshness keys must be status codes 200-599 the cache stores (not 206 or 304, nor 404 or 410 with a negative NegativeFreshness) and its values positive")
	case !validFieldName(cfg.TargetedCacheControl):
		return nil, fmt.Errorf("cache: TargetedCacheControl %q is not a field name", cfg.TargetedCacheControl)
	}
	switch cfg.TargetedCacheControl = http.CanonicalHeaderKey(cfg.TargetedCacheControl); cfg.TargetedCacheControl {
	case "Cache-Control", cdnCacheControl:
		return nil, fmt.Errorf("cache: TargetedCacheControl may not be %s", cfg.TargetedCacheControl)
	}
	cfg.MaxObjectSize = cmp.Or(cfg.MaxObjectSize, 1<<20)
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, 1<<17)
	cfg.Name = cmp.Or(cfg.Name, "gatekit")
	cfg.CoalesceTimeout = cmp.Or(cfg.CoalesceTimeout, 5*time.Second)
	cfg.StaleIfError = cmp.Or(cfg.StaleIfError, 60*time.Second)
	cfg.StaleRetention = cmp.Or(cfg.StaleRetention, 10*time.Minute)
	cfg.MaxRevalidations = cmp.Or(cfg.MaxRevalidations, 16)
	cfg.RevalidateTimeout = cmp.Or(cfg.RevalidateTimeout, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StripRequestHeaders == nil {
		cfg.StripRequestHeaders = DefaultStripHeaders()
	}
	strip := make([]string, len(cfg.StripRequestHeaders))
	for i, k := range cfg.StripRequestHeaders {
		strip[i] = http.CanonicalHeaderKey(k)
	}
	cfg.StripRequestHeaders = strip
	cfg.Freshness = maps.Clone(cfg.Freshness)
	cfg.QueryInclude = append([]string(nil), cfg.QueryInclude...)
	cfg.QueryExclude = append([]string(nil), cfg.QueryExclude...)
	if store == nil {
		rs, err := NewRistrettoStore(cfg.MaxBytes, 0)
		if err != nil {
			return nil, err
		}
		store = rs
	}
	c := &Cache{
		cfg:      cfg,
		store:    store,
		now:      cfg.Now,
		bgSem:    make(chan struct{}, cfg.MaxRevalidations),
		flights:  make(map[string]*flight),
		index:    make(map[string]indexed),
		tagIndex: make(map[string]map[string]struct{}),
		hit:      new(hitValues),
		strip:    newStripSet(cfg.StripRequestHeaders),
	}
	switch store.(type) {
	case *MemoryStore, *RistrettoStore:
		c.storeBorrows = true
	}
	c.fwdMethod = cfg.Name + "; fwd=method"
	c.passMethod = c.decidePassMethod
	c.bgIdle.L = &c.mu
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	return c, nil
}

// decidePassMethod is the recorder decision of a request whose method is
// not cached: pass the response on, with Cache-Status fwd=method.
func (c *Cache) decidePassMethod(int, http.Header) (action, string) {
	return actPass, c.fwdMethod
}

// Key returns the primary cache key of r as Middleware computes it, after
// the query include/exclude lists: method (GET for HEAD), scheme, canonical
// host (lowercase, no trailing dot, no default port), escaped path and the
// exact raw query, e.g. "GET https://example.com/a?x=1".
func (c *Cache) Key(r *http.Request) string {
	u := *r.URL
	u.RawQuery = filterQuery(u.RawQuery, c.cfg.QueryInclude, c.cfg.QueryExclude)
	r2 := *r
	r2.URL = &u
	return requestKey(http.MethodGet, &r2)
}

// Get returns the entry stored under key.
func (c *Cache) Get(ctx context.Context, key string) (*Entry, bool) {
	if c.closed.Load() {
		return nil, false
	}
	e, ok := c.store.Get(ctx, key)
	if !ok || len(e.Variants) == 0 {
		return nil, false
	}
	return e, true
}

// Set stores e under key, for as long as its longest-lived variant may be
// used at the Cache's current time, and indexes its tags for PurgeTag.
// e must not be modified afterwards.
func (c *Cache) Set(ctx context.Context, key string, e *Entry) {
	if c.closed.Load() || len(e.Variants) == 0 {
		return
	}
	now := c.now()
	var ttl time.Duration
	var tagList []string
	for _, v := range e.Variants {
		ttl = max(ttl, c.storeTTL(v, now))
		for _, t := range v.Tags {
			if !slices.Contains(tagList, t) {
				tagList = append(tagList, t)
			}
		}
	}
	if ttl <= 0 {
		c.Purge(ctx, key)
		return
	}
	c.stats.stores.Add(1)
	// Store first, index second: a miss that read the store before this
	// Set holds an older generation, so its forget leaves this indexing be.
	c.store.Set(ctx, key, e, ttl)
	c.indexKey(ctx, key, tagList)
}

// Stats returns the Cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(), Stores: c.stats.stores.Load(),
		Coalesced: c.stats.coalesced.Load(), Revalidations: c.stats.revalidations.Load(), Stale: c.stats.stale.Load(),
	}
}

// Wait blocks until no background revalidation (stale-while-revalidate
// refresh) is running, including those started while it waits. It is safe
// to call concurrently with requests and other Waits; it suits tests and a
// graceful shutdown that wants refreshes to complete (Close cancels them).
func (c *Cache) Wait() {
	c.mu.Lock()
	for c.bgRunning > 0 {
		c.bgIdle.Wait()
	}
	c.mu.Unlock()
}

// Close stops accepting writes, cancels and waits for background
// revalidations, and closes the store. It is idempotent and returns the
// store's Close error.
func (c *Cache) Close() error {
	c.mu.Lock()
	already := c.closed.Swap(true)
	c.mu.Unlock()
	if already {
		return nil
	}
	c.bgCancel()
	c.bg.Wait()
	return c.store.Close()
}
