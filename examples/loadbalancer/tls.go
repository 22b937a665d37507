package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatekit/gatekit"
	gatetls "github.com/gatekit/gatekit/tls"
)

// tlsFlags are the HTTPS flags: certificate files, or ACME.
type tlsFlags struct {
	cert, key                         string
	acmeCA, acmeDomain, acmeEmail     string
	acmeStorage, acmeCARoot, acmeHTTP string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (reloaded when it changes and on SIGHUP); needs -tls-key")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&f.acmeCA, "acme-ca", "", "serve HTTPS with a certificate from this ACME directory URL; needs -acme-domain")
	fs.StringVar(&f.acmeDomain, "acme-domain", "", "domain name to obtain the ACME certificate for")
	fs.StringVar(&f.acmeEmail, "acme-email", "", "ACME account contact address")
	fs.StringVar(&f.acmeStorage, "acme-storage", "", "directory for ACME accounts and certificates (shareable between instances); default under the user cache directory")
	fs.StringVar(&f.acmeCARoot, "acme-ca-root", "", "PEM file of the root that signs the ACME server's own HTTPS certificate, for a private CA")
	fs.StringVar(&f.acmeHTTP, "acme-http", "", "address of a plain HTTP listener answering HTTP-01 challenges and redirecting to HTTPS (the CA connects to port 80); TLS-ALPN-01 is answered on -listen")
}

// setup returns the server TLS configuration the flags ask for, nil for
// plain HTTP, and a function that stops what it started.
func (f *tlsFlags) setup(ctx context.Context, log *slog.Logger) (*tls.Config, func(), error) {
	files, acme := f.cert != "" || f.key != "", f.acmeCA != "" || f.acmeDomain != ""
	switch {
	case files && acme:
		return nil, nil, errors.New("-tls-cert and -acme-ca exclude each other")
	case files:
		return f.files(log)
	case acme:
		return f.acme(ctx, log)
	}
	return nil, func() {}, nil
}

// files serves the certificate files with a Manager, reloading them when
// they change and on SIGHUP.
func (f *tlsFlags) files(log *slog.Logger) (*tls.Config, func(), error) {
	if f.cert == "" || f.key == "" {
		return nil, nil, errors.New("-tls-cert and -tls-key go together")
	}
	m, err := gatetls.NewManager(gatetls.Config{CertFile: f.cert, KeyFile: f.key, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-hup:
				if err := m.Reload(); err != nil {
					log.Warn("SIGHUP: certificate reload rejected, last good certificate kept", "reason", err)
				}
			case <-done:
				return
			}
		}
	}()
	return m.TLSConfig(), func() {
		signal.Stop(hup)
		close(done)
		<-stopped
		m.Close()
	}, nil
}

// acme obtains the certificate for -acme-domain before serving; TLS-ALPN-01
// challenges are answered on the HTTPS listener, HTTP-01 ones on -acme-http.
func (f *tlsFlags) acme(ctx context.Context, log *slog.Logger) (*tls.Config, func(), error) {
	if f.acmeCA == "" || f.acmeDomain == "" {
		return nil, nil, errors.New("-acme-ca and -acme-domain go together")
	}
	var roots *x509.CertPool
	if f.acmeCARoot != "" {
		b, err := os.ReadFile(f.acmeCARoot)
		if err != nil {
			return nil, nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return nil, nil, fmt.Errorf("-acme-ca-root %s: no PEM certificate", f.acmeCARoot)
		}
	}
	a, err := gatetls.NewACME(gatetls.ACMEConfig{
		CA: f.acmeCA, Domains: []string{f.acmeDomain}, Email: f.acmeEmail,
		StorageDir: f.acmeStorage, TrustedRoots: roots, Logger: log,
		DisableHTTPChallenge: f.acmeHTTP == "",
	})
	if err != nil {
		return nil, nil, err
	}
	stop := func() { a.Close() }
	if f.acmeHTTP != "" {
		ln, err := net.Listen("tcp", f.acmeHTTP)
		if err != nil {
			a.Close()
			return nil, nil, err
		}
		// The challenge and redirect listener gets the same safe server
		// (timeouts, framing checks) as the proxy's own.
		srv, err := gatekit.NewServer(gatetls.RedirectHTTPS(gatetls.RedirectConfig{ACME: a.HTTPChallengeHandler(http.NotFoundHandler())}), gatekit.ServerConfig{Logger: log})
		if err != nil {
			ln.Close()
			a.Close()
			return nil, nil, err
		}
		sctx, cancel := context.WithCancel(ctx)
		served := make(chan struct{})
		go func() { _ = srv.Serve(sctx, ln); close(served) }()
		stop = func() { cancel(); <-served; a.Close() }
	}
	// The certificate is obtained in the background, so that TLS-ALPN-01
	// can be answered on the listener the caller opens next; until it is
	// there, handshakes for the domain fail.
	go func() {
		if err := a.Manage(ctx); err != nil && ctx.Err() == nil {
			log.Error("ACME: no certificate", "domain", f.acmeDomain, "reason", err)
		}
	}()
	return a.TLSConfig(), stop, nil
}
