package tls

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// DefaultHSTSMaxAge is the Strict-Transport-Security max-age when
// HSTSConfig.MaxAge is zero: two years, what the browsers' preload lists ask for.
const DefaultHSTSMaxAge = 2 * 365 * 24 * time.Hour

// HSTSConfig configures HSTS. The zero value sends
// "max-age=63072000; includeSubDomains".
type HSTSConfig struct {
	// MaxAge is how long browsers remember to use HTTPS only; whole
	// seconds are sent. If zero, DefaultHSTSMaxAge.
	MaxAge time.Duration
	// ExcludeSubDomains leaves out includeSubDomains, for a domain whose
	// subdomains are not all served over HTTPS.
	ExcludeSubDomains bool
	// Preload adds the preload directive, the opt-in to the browsers'
	// built-in lists; it requires subdomains and a MaxAge of a year or more.
	Preload bool
}

// HSTS returns middleware that sets Strict-Transport-Security (RFC 6797) on
// responses to requests that came over TLS; over plain HTTP the header is
// meaningless and is not sent. It returns an error for a negative MaxAge,
// or Preload with ExcludeSubDomains or a MaxAge under a year.
func HSTS(cfg HSTSConfig) (func(http.Handler) http.Handler, error) {
	maxAge := cmp.Or(cfg.MaxAge, DefaultHSTSMaxAge)
	if maxAge < 0 {
		return nil, errors.New("tls: HSTS: negative MaxAge")
	}
	if cfg.Preload && (cfg.ExcludeSubDomains || maxAge < 365*24*time.Hour) {
		return nil, errors.New("tls: HSTS: Preload needs subdomains included and a MaxAge of a year or more")
	}
	v := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	if !cfg.ExcludeSubDomains {
		v += "; includeSubDomains"
	}
	if cfg.Preload {
		v += "; preload"
	}
	value := []string{v}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil {
				w.Header()["Strict-Transport-Security"] = value
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
