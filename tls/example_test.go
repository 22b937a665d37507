package tls_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gatekit/gatekit"
	gatetls "github.com/gatekit/gatekit/tls"
)

// writePair writes c to dir as name.crt and name.key.
func writePair(dir, name string, c *tls.Certificate) (certFile, keyFile string) {
	certPEM, keyPEM, err := gatetls.EncodePEM(c)
	if err != nil {
		panic(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		panic(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		panic(err)
	}
	return certFile, keyFile
}

// A Manager serves certificate files chosen by SNI and swaps in new files
// after validating them; a bad pair keeps the last good one.
func ExampleManager() {
	dir, _ := os.MkdirTemp("", "gatetls")
	defer os.RemoveAll(dir)
	ca, _ := gatetls.NewDevCA()
	www, _ := ca.Issue(gatetls.Leaf{DNSNames: []string{"www.example.com"}})
	api, _ := ca.Issue(gatetls.Leaf{DNSNames: []string{"api.example.com", "*.api.example.com"}})
	wwwCert, wwwKey := writePair(dir, "www", www)
	apiCert, apiKey := writePair(dir, "api", api)

	m, err := gatetls.NewManager(gatetls.Config{
		CertFile: wwwCert, KeyFile: wwwKey, // the default certificate
		Certificates: []gatetls.CertificateFiles{{CertFile: apiCert, KeyFile: apiKey}},
		PollInterval: -1, // this example reloads by hand; servers call Reload on SIGHUP too
	})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	for _, sni := range []string{"www.example.com", "v2.api.example.com", ""} {
		c, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		fmt.Printf("%q -> %v\n", sni, c.Leaf.DNSNames)
	}

	// A half-written key file is rejected; the old pair keeps serving.
	_ = os.WriteFile(apiKey, []byte("-----BEGIN PRIVATE KEY-----\nMIG"), 0o600)
	fmt.Println("reload error:", m.Reload() != nil)
	c, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "api.example.com"})
	fmt.Println("still serving:", c.Leaf.SerialNumber.Cmp(api.Leaf.SerialNumber) == 0)
	// Output:
	// "www.example.com" -> [www.example.com]
	// "v2.api.example.com" -> [api.example.com *.api.example.com]
	// "" -> [www.example.com]
	// reload error: true
	// still serving: true
}

// An Edge is the listener's TLS policy; its middleware answers 421 when a
// request names a host whose client-certificate policy differs from the
// connection's.
func ExampleEdge() {
	ca, _ := gatetls.NewDevCA()
	edge, err := gatetls.NewEdge(ca.GetCertificate, gatetls.EdgeConfig{
		Hosts: []gatetls.HostPolicy{{Hosts: []string{"admin.localhost"}, ClientAuth: gatetls.RequireClientCert, ClientCAs: ca.Pool()}},
	})
	if err != nil {
		panic(err)
	}
	h := edge.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := gatetls.ClientIdentity(r.Context())
		if ok {
			fmt.Fprintf(w, "hello %s", id.SPIFFEID)
			return
		}
		fmt.Fprint(w, "hello anonymous")
	}))
	// gatekit's Server keeps its connection limits on TLS listeners too.
	srv, err := gatekit.NewServer(h, gatekit.ServerConfig{TLSConfig: edge.TLSConfig()})
	if err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { stop(); <-served }()

	get := func(sni, host string, cert *tls.Certificate) {
		conf := &tls.Config{RootCAs: ca.Pool(), ServerName: sni}
		if cert != nil {
			conf.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/", nil)
		req.Host = host
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			fmt.Println(sni, "->", host, ": handshake refused")
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			body = []byte(resp.Header.Get("Content-Type"))
		}
		fmt.Println(sni, "->", host, ":", resp.Proto, resp.StatusCode, string(body))
	}
	client, _ := ca.Issue(gatetls.Leaf{CommonName: "ops", Client: true})
	get("www.localhost", "www.localhost", nil)
	get("admin.localhost", "admin.localhost", nil)
	get("www.localhost", "admin.localhost", client)
	// Output:
	// www.localhost -> www.localhost : HTTP/2.0 200 hello anonymous
	// admin.localhost -> admin.localhost : handshake refused
	// www.localhost -> admin.localhost : HTTP/2.0 421 application/problem+json
}

// Upstream gives a proxy's transport the backends' CA, a server name
// override and a client certificate (mTLS to the backends) that is reloaded
// when its files change.
func ExampleUpstream() {
	dir, _ := os.MkdirTemp("", "gatetls")
	defer os.RemoveAll(dir)
	ca, _ := gatetls.NewDevCA()
	backendCert, _ := ca.Issue(gatetls.Leaf{DNSNames: []string{"orders.internal"}})
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{*backendCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	backend.EnableHTTP2 = true
	backend.StartTLS()
	defer backend.Close()

	clientCert, _ := ca.Issue(gatetls.Leaf{CommonName: "gateway", Client: true})
	certFile, keyFile := writePair(dir, "client", clientCert)
	up, err := gatetls.NewUpstream(gatetls.UpstreamConfig{
		RootCAs: ca.Pool(), ServerName: "orders.internal", CertFile: certFile, KeyFile: keyFile,
	})
	if err != nil {
		panic(err)
	}
	defer up.Close()
	transport := &http.Transport{TLSClientConfig: up.TLSConfig(), ForceAttemptHTTP2: true}
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Get(backend.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Proto, string(body))
	// Output:
	// HTTP/2.0 hello gateway
}

// HSTS is set on HTTPS responses; the plain HTTP listener redirects to
// HTTPS and passes ACME HTTP-01 challenges to the ACME handler.
func ExampleRedirectHTTPS() {
	challenges := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "token") })
	redirect := gatetls.RedirectHTTPS(gatetls.RedirectConfig{HTTPSPort: 8443, ACME: challenges})
	for _, target := range []string{"http://example.com/orders?page=2", "http://example.com/.well-known/acme-challenge/x"} {
		rec := httptest.NewRecorder()
		redirect.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		fmt.Println(rec.Code, rec.Header().Get("Location")+rec.Body.String())
	}

	hsts, _ := gatetls.HSTS(gatetls.HSTSConfig{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "https://example.com/", nil)
	req.TLS = &tls.ConnectionState{}
	hsts(http.NotFoundHandler()).ServeHTTP(rec, req)
	fmt.Println(rec.Header().Get("Strict-Transport-Security"))
	// Output:
	// 301 https://example.com:8443/orders?page=2
	// 200 token
	// max-age=63072000; includeSubDomains
}
