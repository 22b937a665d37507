package tls

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/internal/problem"
)

// Headers Middleware sets on requests from verified clients, for the
// upstream. They are removed from every incoming request first, so a
// client can never supply them. Multi-valued ones carry one value per
// header line.
const (
	// HeaderClientSubject carries the client certificate's subject DN.
	HeaderClientSubject = "X-Client-Cert-Subject"
	// HeaderClientDNS carries each DNS subject alternative name.
	HeaderClientDNS = "X-Client-Cert-Dns"
	// HeaderClientURI carries each URI subject alternative name.
	HeaderClientURI = "X-Client-Cert-Uri"
	// HeaderClientSPIFFE carries the SPIFFE ID (the spiffe:// URI SAN).
	HeaderClientSPIFFE = "X-Client-Cert-Spiffe-Id"
)

var identityHeaders = [...]string{HeaderClientSubject, HeaderClientDNS, HeaderClientURI, HeaderClientSPIFFE}

// ErrMisdirected is the error Middleware passes to EdgeConfig.ErrorHandler
// when a request's Host has another TLS policy than its connection's SNI.
var ErrMisdirected = errors.New("tls: request host has a different TLS policy than the connection's server name")

// Identity is a client verified by its certificate.
type Identity struct {
	// Subject is the certificate's subject distinguished name (RFC 2253).
	Subject string
	// DNSNames, URIs and EmailAddresses are its subject alternative names.
	DNSNames, URIs, EmailAddresses []string
	// SPIFFEID is the first URI SAN with the spiffe scheme, or "".
	SPIFFEID string
	// Certificate is the verified leaf; it must not be modified.
	Certificate *x509.Certificate
}

type identityKey struct{}

// ClientIdentity returns the verified client identity Middleware stored in
// ctx, and whether there is one (false for clients without a certificate
// and for plain HTTP).
func ClientIdentity(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok
}

func identityOf(c *x509.Certificate) *Identity {
	id := &Identity{Subject: c.Subject.String(), DNSNames: c.DNSNames, EmailAddresses: c.EmailAddresses, Certificate: c}
	for _, u := range c.URIs {
		s := u.String()
		id.URIs = append(id.URIs, s)
		if id.SPIFFEID == "" && u.Scheme == "spiffe" {
			id.SPIFFEID = s
		}
	}
	return id
}

// Middleware returns middleware that holds each request to the TLS policy
// of its connection and exposes the verified client identity:
//
//   - A request whose Host belongs to another host policy than the server
//     name (SNI) its connection was made with is answered 421 Misdirected
//     Request, so a client cannot reach a host that verifies certificates
//     over a connection that did not (domain fronting, HTTP/2 connection
//     reuse); RFC 9110 lets the client retry on a new connection.
//   - The identity headers (HeaderClientSubject and the others) are
//     removed from the request, then set from the verified certificate,
//     and the Identity is stored for ClientIdentity.
//
// Requests without TLS only have the identity headers removed.
func (e *Edge) Middleware() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil && len(e.policies) > 1 && e.policyOf(r.Host) != e.policyOf(r.TLS.ServerName) {
				e.errh(w, r, ErrMisdirected)
				return
			}
			var id *Identity
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
				id = identityOf(r.TLS.VerifiedChains[0][0])
			}
			if id == nil && !hasIdentityHeader(r.Header) {
				next.ServeHTTP(w, r)
				return
			}
			r2 := r
			if id != nil {
				r2 = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
			} else {
				r2 = new(http.Request)
				*r2 = *r
			}
			h := r.Header.Clone()
			for _, k := range identityHeaders {
				delete(h, k)
			}
			if id != nil {
				h[HeaderClientSubject] = []string{headerSafe(id.Subject)}
				for _, n := range id.DNSNames {
					h.Add(HeaderClientDNS, headerSafe(n))
				}
				for _, u := range id.URIs {
					h.Add(HeaderClientURI, headerSafe(u))
				}
				if id.SPIFFEID != "" {
					h[HeaderClientSPIFFE] = []string{headerSafe(id.SPIFFEID)}
				}
			}
			r2.Header = h
			next.ServeHTTP(w, r2)
		})
	}
}

func hasIdentityHeader(h http.Header) bool {
	for _, k := range identityHeaders {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// headerSafe replaces bytes that may not appear in a header value (control
// characters, DEL) with '?', since certificate fields are arbitrary bytes.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func misdirected(w http.ResponseWriter, _ *http.Request, _ error) {
	problem.Write(w, http.StatusMisdirectedRequest, "this connection cannot serve the requested host; retry on a new connection")
}
