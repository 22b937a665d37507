package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gatekit/gatekit"
	gatetls "github.com/gatekit/gatekit/tls"
)

// httpsDemo is the demo's HTTPS listener: the same gateway over TLS with a
// development certificate, HTTP/2 included.
type httpsDemo struct {
	addr   net.Addr
	caFile string // the development CA certificate, for curl --cacert
	ca     *gatetls.DevCA
	served chan error
}

// startHTTPS serves h over HTTPS on addr until ctx ends. The certificate
// comes from a development CA made for this run (never a default: the demo
// asks for it here) and is issued for whatever name the client sends; the
// CA certificate is written to a temporary file for curl --cacert.
// Responses over HTTPS carry Strict-Transport-Security.
func startHTTPS(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (*httpsDemo, error) {
	ca, err := gatetls.NewDevCA()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatekit-demo-ca")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	edge, err := gatetls.NewEdge(ca.GetCertificate, gatetls.EdgeConfig{})
	if err != nil {
		return nil, err
	}
	hsts, err := gatetls.HSTS(gatetls.HSTSConfig{ExcludeSubDomains: true})
	if err != nil {
		return nil, err
	}
	srv, err := gatekit.NewServer(edge.Middleware()(hsts(h)), gatekit.ServerConfig{TLSConfig: edge.TLSConfig(), Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	d := &httpsDemo{addr: ln.Addr(), caFile: caFile, ca: ca, served: make(chan error, 1)}
	go func() {
		err := srv.Serve(ctx, ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		_ = os.RemoveAll(dir)
		d.served <- err
	}()
	return d, nil
}

// wait returns once the HTTPS server has stopped, with its error.
func (d *httpsDemo) wait() error { return <-d.served }

// printTryLine prints the curl line for the HTTPS listener.
func (d *httpsDemo) printTryLine() {
	port := d.addr.(*net.TCPAddr).Port
	fmt.Printf("HTTPS (HTTP/2) with a development certificate on https://localhost:%d:\n  curl -s --http2 --cacert %s https://localhost:%d/hello\n\n", port, d.caFile, port)
}
