package tls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSNIHostClientCertMatrix connects with every combination of server
// name, Host header and client certificate to a gateway where admin.test
// requires a certificate from CA A and public.test asks for none: a request
// reaches admin.test's handler only over a connection whose handshake
// verified a CA A certificate for admin.test; a Host that disagrees with
// the connection's policy gets 421.
func TestSNIHostClientCertMatrix(t *testing.T) {
	caA, caB := testCA(t), testCA(t)
	srvCert := issue(t, caA, Leaf{DNSNames: []string{"public.test", "admin.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return srvCert, nil }, EdgeConfig{
		Hosts: []HostPolicy{{Hosts: []string{"admin.test"}, ClientAuth: RequireClientCert, ClientCAs: caA.Pool()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var adminHits atomic.Int64
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		if host == "admin.test" {
			adminHits.Add(1)
		}
		id, _ := ClientIdentity(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"identity": id != nil, "subject": r.Header.Get(HeaderClientSubject)})
	})
	port := httpsServer(t, edge.Middleware()(backend), edge.TLSConfig()).Port

	certs := map[string]*tls.Certificate{
		"none": nil,
		"CA A": issue(t, caA, Leaf{CommonName: "ops", Client: true}),
		"CA B": issue(t, caB, Leaf{CommonName: "intruder", Client: true}),
	}
	type want struct {
		handshake bool
		status    int
		identity  bool
	}
	cases := map[[3]string]want{}
	for _, cert := range []string{"none", "CA A", "CA B"} {
		for _, sni := range []string{"", "public.test"} {
			cases[[3]string{sni, "public.test", cert}] = want{true, 200, false}
			cases[[3]string{sni, "admin.test", cert}] = want{true, 421, false}
		}
		ok := cert == "CA A"
		cases[[3]string{"admin.test", "admin.test", cert}] = want{ok, 200, ok}
		cases[[3]string{"admin.test", "public.test", cert}] = want{ok, 421, false}
	}
	for k, w := range cases {
		sni, host, certName := k[0], k[1], k[2]
		t.Run(fmt.Sprintf("sni=%q/host=%s/cert=%s", sni, host, certName), func(t *testing.T) {
			conf := &tls.Config{RootCAs: caA.Pool(), ServerName: sni}
			if c := certs[certName]; c != nil {
				conf.Certificates = []tls.Certificate{*c}
			}
			tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/", port), nil)
			req.Host = fmt.Sprintf("%s:%d", host, port)
			req.Header.Set(HeaderClientSubject, "CN=forged")
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
			if !w.handshake {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with status %d, want a failed handshake", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != w.status || resp.ProtoMajor != 2 {
				t.Fatalf("status %d over %s, want %d over HTTP/2; body %s", resp.StatusCode, resp.Proto, w.status, body)
			}
			if w.status == 421 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("421 Content-Type = %q", ct)
				}
				return
			}
			var got struct {
				Identity bool
				Subject  string
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			wantSubject := ""
			if w.identity {
				wantSubject = "CN=ops"
			}
			if got.Identity != w.identity || got.Subject != wantSubject {
				t.Fatalf("backend saw identity=%v subject=%q, want %v %q", got.Identity, got.Subject, w.identity, wantSubject)
			}
		})
	}
	wantHits := int64(0)
	for k, w := range cases {
		if k[1] == "admin.test" && w.status == 200 && w.handshake {
			wantHits++
		}
	}
	if got := adminHits.Load(); got != wantHits {
		t.Fatalf("admin.test handler reached %d times, want %d (only verified CA A clients)", got, wantHits)
	}
}

func TestMiddlewareExposesIdentityAndStripsClientHeaders(t *testing.T) {
	ca := testCA(t)
	spiffe, _ := url.Parse("spiffe://example.org/ns/prod/sa/billing")
	client := issue(t, ca, Leaf{CommonName: "billing", Client: true, DNSNames: []string{"billing.svc"}, URIs: []*url.URL{spiffe}})
	edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }, EdgeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var seen http.Header
	var seenID *Identity
	h := edge.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header
		seenID, _ = ClientIdentity(r.Context())
	}))
	tests := []struct {
		name     string
		tls      *tls.ConnectionState
		want     map[string][]string
		identity bool
	}{
		{"plain HTTP", nil, map[string][]string{}, false},
		{"TLS without client certificate", &tls.ConnectionState{ServerName: "a.test"}, map[string][]string{}, false},
		{"verified client", &tls.ConnectionState{ServerName: "a.test", VerifiedChains: [][]*x509.Certificate{{client.Leaf}}}, map[string][]string{
			HeaderClientSubject: {"CN=billing"},
			HeaderClientDNS:     {"billing.svc"},
			HeaderClientURI:     {spiffe.String()},
			HeaderClientSPIFFE:  {spiffe.String()},
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://a.test/", nil)
			r.TLS = tc.tls
			for _, k := range identityHeaders {
				r.Header.Set(k, "forged")
			}
			r.Header.Set("X-Other", "kept")
			h.ServeHTTP(httptest.NewRecorder(), r)
			for _, k := range identityHeaders {
				if got, want := strings.Join(seen[k], "|"), strings.Join(tc.want[k], "|"); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if seen.Get("X-Other") != "kept" || r.Header.Get(HeaderClientSubject) != "forged" {
				t.Error("the middleware changed other headers or the caller's request")
			}
			if (seenID != nil) != tc.identity || (seenID != nil && seenID.SPIFFEID != spiffe.String()) {
				t.Errorf("ClientIdentity = %+v, want identity %v", seenID, tc.identity)
			}
		})
	}
}

func TestHeaderSafeReplacesControlCharacters(t *testing.T) {
	if got := headerSafe("CN=a\r\nX-Evil: 1\x7f"); got != "CN=a??X-Evil: 1?" {
		t.Fatalf("headerSafe = %q", got)
	}
}

// BenchmarkMiddleware measures the per-request cost of the policy check
// and identity headers: a request without a client certificate (the
// common case, nothing to copy) and one from a verified client.
func BenchmarkMiddleware(b *testing.B) {
	ca := testCA(b)
	client := issue(b, ca, Leaf{CommonName: "billing", Client: true, DNSNames: []string{"billing.svc"}})
	edge, err := NewEdge(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }, EdgeConfig{
		Hosts: []HostPolicy{{Hosts: []string{"admin.test"}, ClientAuth: RequireClientCert, ClientCAs: ca.Pool()}},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := edge.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, bc := range []struct {
		name string
		host string
		tls  *tls.ConnectionState
	}{
		{"anonymous", "www.test", &tls.ConnectionState{ServerName: "www.test"}},
		{"verified client", "admin.test", &tls.ConnectionState{ServerName: "admin.test", VerifiedChains: [][]*x509.Certificate{{client.Leaf}}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "https://"+bc.host+"/", nil)
			r.TLS = bc.tls
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}
