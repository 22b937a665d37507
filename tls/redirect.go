package tls

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatekit/gatekit/internal/problem"
)

// acmeChallengePrefix is where ACME HTTP-01 challenges are fetched (RFC 8555).
const acmeChallengePrefix = "/.well-known/acme-challenge/"

// RedirectConfig configures RedirectHTTPS.
type RedirectConfig struct {
	// HTTPSPort is the port put in the Location; 443 (the default, when
	// zero) is left out of the URL.
	HTTPSPort int
	// ACME answers requests under /.well-known/acme-challenge/, typically
	// ACME.HTTPChallengeHandler. If nil, those requests are redirected too.
	ACME http.Handler
}

// RedirectHTTPS returns the handler for a plain HTTP listener: it sends
// every request to the same host and path over HTTPS (301 for GET and
// HEAD, 308 for other methods, so that they are repeated as they were),
// except ACME HTTP-01 challenges, which go to cfg.ACME. A request whose
// Host is not a valid host name gets 400, so the redirect cannot be
// steered to another authority.
func RedirectHTTPS(cfg RedirectConfig) http.Handler {
	port := ""
	if cfg.HTTPSPort != 0 && cfg.HTTPSPort != 443 {
		port = ":" + strconv.Itoa(cfg.HTTPSPort)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg.ACME != nil && strings.HasPrefix(r.URL.Path, acmeChallengePrefix) {
			cfg.ACME.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !validHost(host) {
			problem.Write(w, http.StatusBadRequest, "invalid Host header")
			return
		}
		if strings.IndexByte(host, ':') >= 0 {
			host = "[" + host + "]" // IPv6 literal
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		w.Header().Set("Location", "https://"+host+port+r.URL.RequestURI())
		w.WriteHeader(code)
	})
}

// validHost reports whether h is a DNS name or an IP address literal.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
