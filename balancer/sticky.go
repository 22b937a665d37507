package balancer

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"time"

	"github.com/gatekit/gatekit/internal/header"
)

// defaultStickyCookie is the default name of the affinity cookie, stated
// on StickyConfig.Cookie.
const defaultStickyCookie = "gk_affinity"

// StickyConfig configures a Sticky policy. The zero value of each field
// selects the default documented on it.
type StickyConfig struct {
	// Secret keys the HMAC that signs affinity tokens, so clients can
	// neither read target addresses from them nor forge one. Gateways
	// sharing sessions must share it (at least 16 bytes). If empty, a
	// random secret is generated: tokens then hold for this process only.
	Secret []byte
	// Cookie is the name of the affinity cookie. Empty means
	// "gk_affinity".
	Cookie string
	// Header, if set, carries affinity in this request header instead of
	// a cookie: the proxy answers with the token in the same response
	// header, and the client sends it back (session-header affinity).
	// NewSticky refuses the cookie's fields (Cookie, MaxAge, Path,
	// Secure) with it.
	Header string
	// MaxAge is the cookie's Max-Age. Zero means a session cookie.
	MaxAge time.Duration
	// Path is the cookie's Path. Empty means "/".
	Path string
	// Secure always marks the cookie Secure. If false, it is Secure when
	// the request arrived over TLS.
	Secure bool
}

// Sticky is session affinity: a request carrying a valid token (from the
// affinity cookie or header) goes to the target the token names; a
// request without one, or whose target was removed or is unhealthy, goes
// to the fallback policy and is re-pinned: the proxy sets a new token
// naming the target chosen. Tokens are HMAC-SHA256 signatures of a target's ID,
// never the address itself.
//
// As a Policy, Sticky takes the token as key; the fallback is called with
// key "". A proxy (package proxy) finds a *Sticky passed to it directly or
// under wrappers (see Wrapper), reads tokens from requests with
// RequestToken and sets them on responses with SetToken. A pick of a
// pinned target allocates nothing. Sticky is safe for concurrent use.
type Sticky struct {
	pool     *Pool
	fallback Policy
	secret   []byte
	cfg      StickyConfig
	tokens   snapshotCache[*tokenMap]
	build    func(*snapshot, *tokenMap) *tokenMap
}

// tokenMap maps the tokens of one snapshot's available targets.
type tokenMap struct {
	byToken  map[string]*Target
	byTarget map[*Target]string
}

var _ Policy = (*Sticky)(nil)

// NewSticky returns a sticky-session policy over pool that falls back to
// fallback. A nil pool behaves as an empty one. It returns an error for a
// nil fallback or one that picks from another pool (its picks could never
// be pinned), a secret shorter than 16 bytes or an invalid header or
// cookie name.
func NewSticky(pool *Pool, fallback Policy, cfg StickyConfig) (*Sticky, error) {
	if fallback == nil {
		return nil, errors.New("balancer: sticky sessions need a fallback policy")
	}
	if fp := policyPool(fallback); fp != nil && fp != pool {
		return nil, errors.New("balancer: the sticky policy's fallback picks from another pool")
	}
	s := &Sticky{pool: pool, fallback: fallback, cfg: cfg}
	switch {
	case len(cfg.Secret) == 0:
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret) // never fails (crypto/rand)
	case len(cfg.Secret) < 16:
		return nil, fmt.Errorf("balancer: sticky secret of %d bytes, want at least 16", len(cfg.Secret))
	default:
		s.secret = append([]byte(nil), cfg.Secret...)
	}
	if s.cfg.Header != "" {
		if !header.IsToken(s.cfg.Header) {
			return nil, fmt.Errorf("balancer: invalid sticky header %q", cfg.Header)
		}
		if cfg.Cookie != "" || cfg.MaxAge != 0 || cfg.Path != "" || cfg.Secure {
			return nil, errors.New("balancer: sticky Header carries affinity instead of a cookie; Cookie, MaxAge, Path and Secure do not apply")
		}
		s.cfg.Header = textproto.CanonicalMIMEHeaderKey(s.cfg.Header)
	}
	if s.cfg.Cookie == "" {
		s.cfg.Cookie = defaultStickyCookie
	} else if !header.IsToken(s.cfg.Cookie) {
		return nil, fmt.Errorf("balancer: invalid sticky cookie name %q", cfg.Cookie)
	}
	s.cfg.Path = cmp.Or(s.cfg.Path, "/")
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("balancer: negative sticky MaxAge %v", cfg.MaxAge)
	}
	s.build = s.buildTokens
	return s, nil
}

func (s *Sticky) sign(t *Target) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(t.id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (s *Sticky) buildTokens(snap *snapshot, prev *tokenMap) *tokenMap {
	tm := &tokenMap{byToken: make(map[string]*Target, len(snap.avail)), byTarget: make(map[*Target]string, len(snap.avail))}
	for _, t := range snap.avail {
		tok := ""
		if prev != nil {
			tok = prev.byTarget[t]
		}
		if tok == "" {
			tok = s.sign(t)
		}
		tm.byToken[tok] = t
		tm.byTarget[t] = tok
	}
	return tm
}

// Pick returns the target token names when it is available, and otherwise
// the fallback policy's pick.
func (s *Sticky) Pick(ctx context.Context, token string) (*Target, func(Result), error) {
	t, done, _, err := s.pickKeyed(ctx, token)
	return t, done, err
}

func (s *Sticky) pickKeyed(ctx context.Context, token string) (*Target, func(Result), doneID, error) {
	if token != "" {
		snap := s.pool.load()
		if len(snap.avail) > 0 {
			if t := s.tokens.get(snap, s.build).byToken[token]; t != nil {
				t.acquire()
				return t, t.done, t, nil
			}
		}
	}
	return pickKeyed(ctx, s.fallback, "")
}

// Token returns the affinity token naming t.
func (s *Sticky) Token(t *Target) string {
	snap := s.pool.load()
	if len(snap.avail) > 0 {
		if tok := s.tokens.get(snap, s.build).byTarget[t]; tok != "" {
			return tok
		}
	}
	return s.sign(t)
}

// RequestToken returns the affinity token r carries (in the affinity
// header or cookie), or "".
func (s *Sticky) RequestToken(r *http.Request) string {
	if s.cfg.Header != "" {
		if v := r.Header[s.cfg.Header]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	c, err := r.Cookie(s.cfg.Cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// SetToken sets token on h, the header of the response to r: the affinity
// header, or a cookie (Secure when configured or when r came over TLS).
func (s *Sticky) SetToken(h http.Header, r *http.Request, token string) {
	if s.cfg.Header != "" {
		h.Set(s.cfg.Header, token)
		return
	}
	c := &http.Cookie{
		Name: s.cfg.Cookie, Value: token, Path: s.cfg.Path, HttpOnly: true,
		Secure: s.cfg.Secure || r.TLS != nil, SameSite: http.SameSiteLaxMode,
		MaxAge: int(s.cfg.MaxAge / time.Second),
	}
	h.Add("Set-Cookie", c.String())
}

func (s *Sticky) targetPool() *Pool { return s.pool }
