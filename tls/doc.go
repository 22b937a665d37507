// Package tls terminates TLS for a gateway: certificates from files with hot
// reload and SNI selection, ACME certificates, development certificates, a
// secure server tls.Config with per-host client-certificate policies, HSTS,
// the HTTP to HTTPS redirect, and TLS to upstreams.
//
// The package shadows crypto/tls; import it as
//
//	gatetls "github.com/gatekit/gatekit/tls"
//
// The engines ([Manager], [ACME], [DevCA], [Upstream]) hand out certificates
// through the crypto/tls hooks (GetCertificate, GetClientCertificate); the
// adapters ([Edge], [Edge.Middleware], [HSTS], [RedirectHTTPS]) plug them into
// net/http. A typical HTTPS listener, served by gatekit's Server so that the
// connection limits (header, write and body read idle timeouts) hold on it
// as on plain HTTP:
//
//	m, err := gatetls.NewManager(gatetls.Config{CertFile: "cert.pem", KeyFile: "key.pem"})
//	if err != nil { ... }
//	defer m.Close()
//	edge, err := gatetls.NewEdge(m.GetCertificate, gatetls.EdgeConfig{})
//	if err != nil { ... }
//	srv, err := gatekit.NewServer(edge.Middleware()(h), gatekit.ServerConfig{TLSConfig: edge.TLSConfig()})
//	if err != nil { ... }
//	err = srv.ListenAndServe(ctx, ":443")
//
// # Security
//
// Defaults are the safe ones: TLS 1.2 minimum (1.3 negotiated whenever the
// client offers it), AEAD cipher suites only, X25519 with the hybrid
// post-quantum X25519MLKEM768 group first, ALPN h2 and http/1.1. Weakening any
// of them takes a field whose name starts with Insecure. A certificate pair
// is validated before it is served (key matches, chain links, within its
// validity, names present) and a failed reload keeps the last good pair.
// Client identity headers set by [Edge.Middleware] are always removed from
// the client's request first, so an upstream can trust them.
package tls
