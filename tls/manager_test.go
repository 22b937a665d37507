package tls

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestNewManagerRefusesACertificateThatServesNoName(t *testing.T) {
	ca, dir := testCA(t), t.TempDir()
	good := writeCert(t, dir, "good", issue(t, ca, Leaf{DNSNames: []string{"a.test"}}))
	nameless := writeCert(t, dir, "nameless", issue(t, ca, Leaf{CommonName: "a.test"}))
	tests := []struct {
		name string
		cfg  Config
		want error // nil: any error
	}{
		{"default certificate without names", Config{CertFile: nameless.CertFile, KeyFile: nameless.KeyFile}, ErrNoNames},
		{"SNI certificate without names", Config{CertFile: good.CertFile, KeyFile: good.KeyFile, Certificates: []CertificateFiles{nameless}}, ErrNoNames},
		{"missing key file", Config{CertFile: good.CertFile, KeyFile: good.KeyFile + ".missing"}, os.ErrNotExist},
		{"no files", Config{}, nil},
		{"SNI entry without key", Config{CertFile: good.CertFile, KeyFile: good.KeyFile, Certificates: []CertificateFiles{{CertFile: good.CertFile}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PollInterval = -1
			m, err := NewManager(tc.cfg)
			if err == nil {
				m.Close()
				t.Fatal("NewManager succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("NewManager error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestManagerChoosesCertificateBySNI(t *testing.T) {
	ca, dir := testCA(t), t.TempDir()
	def := issue(t, ca, Leaf{DNSNames: []string{"www.example.com"}})
	api := issue(t, ca, Leaf{DNSNames: []string{"api.example.com"}})
	wild := issue(t, ca, Leaf{DNSNames: []string{"*.example.org"}})
	m, err := NewManager(Config{
		CertFile: writeCert(t, dir, "def", def).CertFile, KeyFile: dir + "/def.key",
		Certificates: []CertificateFiles{writeCert(t, dir, "api", api), writeCert(t, dir, "wild", wild)},
		PollInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		sni  string
		want string
	}{
		{"", serialOf(def)},
		{"www.example.com", serialOf(def)},
		{"api.example.com", serialOf(api)},
		{"shop.example.org", serialOf(wild)},
		{"nobody.test", serialOf(def)},
	} {
		c, err := m.GetCertificate(hello(tc.sni))
		if err != nil || serialOf(c) != tc.want {
			t.Errorf("GetCertificate(%q) = %s, %v; want %s", tc.sni, serialOf(c), err, tc.want)
		}
	}
	if !m.Serves("shop.example.org") || m.Serves("nobody.test") {
		t.Error("Serves disagrees with the certificates' names")
	}
}

func TestReloadKeepsLastGoodPairAndLogsTheReason(t *testing.T) {
	ca, dir := testCA(t), t.TempDir()
	first := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
	f := writeCert(t, dir, "a", first)
	var logs bytes.Buffer
	m, err := newManager(Config{CertFile: f.CertFile, KeyFile: f.KeyFile, PollInterval: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	firstCert, firstKey := pemOf(t, first)
	second := issue(t, ca, Leaf{DNSNames: []string{"a.test", "b.test"}})
	secondCert, secondKey := pemOf(t, second)
	expCert, expKey := pemOf(t, issue(t, ca, Leaf{DNSNames: []string{"a.test"}, Validity: -time.Hour}))
	namelessCert, namelessKey := pemOf(t, issue(t, ca, Leaf{CommonName: "a.test"}))

	steps := []struct {
		name      string
		cert, key []byte
		wantErr   string // substring of Reload's error and the log; "" for success
		want      string // serial served afterwards
	}{
		{"new certificate, old key", secondCert, firstKey, "private key does not match", serialOf(first)},
		{"half-written certificate", secondCert[:len(secondCert)/3], secondKey, "certificate", serialOf(first)},
		{"expired certificate", expCert, expKey, "validity", serialOf(first)},
		{"certificate serving no name", namelessCert, namelessKey, "serves no name", serialOf(first)},
		{"good new pair", secondCert, secondKey, "", serialOf(second)},
		{"unchanged files", secondCert, secondKey, "", serialOf(second)},
		{"back to the first pair", firstCert, firstKey, "", serialOf(first)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			logs.Reset()
			writeFiles(t, dir, "a", st.cert, st.key)
			err := m.ReloadAt(t0.Add(time.Hour))
			if st.wantErr == "" && err != nil || st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)) {
				t.Fatalf("ReloadAt = %v, want error containing %q", err, st.wantErr)
			}
			if st.wantErr != "" && !strings.Contains(logs.String(), "last good certificate kept") {
				t.Errorf("log = %q, want a warning with the reason", logs.String())
			}
			c, _ := m.GetCertificate(hello("a.test"))
			if got := serialOf(c); got != st.want {
				t.Fatalf("served serial %s, want %s", got, st.want)
			}
			s := m.State()[0]
			if s.Serial != st.want || (s.LastError == nil) != (st.wantErr == "") {
				t.Fatalf("State = serial %s, LastError %v; want serial %s, error %v", s.Serial, s.LastError, st.want, st.wantErr != "")
			}
		})
	}
	if s := m.State()[0]; s.Serial != serialOf(first) || !s.Default || s.Issuer == "" || s.NotAfter.IsZero() || s.LastSuccess != t0.Add(time.Hour) {
		t.Errorf("State = %+v", s)
	}
}

func TestManagerWatchSwapsChangedFiles(t *testing.T) {
	ca, dir := testCA(t), t.TempDir()
	first := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
	f := writeCert(t, dir, "a", first)
	m, err := NewManager(Config{CertFile: f.CertFile, KeyFile: f.KeyFile, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	second := issue(t, ca, Leaf{DNSNames: []string{"a.test"}})
	writeCert(t, dir, "a", second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := m.GetCertificate(hello("a.test"))
		if serialOf(c) == serialOf(second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %s 5 s after the files changed, want %s", serialOf(c), serialOf(second))
		}
		time.Sleep(5 * time.Millisecond) // polling for an asynchronous watcher, bounded by deadline
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// FuzzReload feeds arbitrary certificate and key files to a Manager serving
// a good pair: whatever the bytes, a certificate is served, and it is either
// the last good one or, if Reload accepted the new files, theirs.
func FuzzReload(f *testing.F) {
	ca := testCA(f)
	good := issue(f, ca, Leaf{DNSNames: []string{"a.test"}})
	goodCert, goodKey := pemOf(f, good)
	otherCert, otherKey := pemOf(f, issue(f, ca, Leaf{DNSNames: []string{"a.test"}}))
	f.Add(otherCert, otherKey)
	f.Add(otherCert, goodKey)
	f.Add(otherCert[:len(otherCert)/2], otherKey)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte{})
	dir := f.TempDir()
	files := writeFiles(f, dir, "a", goodCert, goodKey)
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		writeFiles(t, dir, "a", goodCert, goodKey)
		m, err := newManager(Config{CertFile: files.CertFile, KeyFile: files.KeyFile, PollInterval: -1}, true, t0)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		writeFiles(t, dir, "a", certPEM, keyPEM)
		rerr := m.ReloadAt(t0)
		c, err := m.GetCertificate(hello("a.test"))
		if err != nil || c == nil || c.Leaf == nil {
			t.Fatalf("GetCertificate = %v, %v after Reload error %v", c, err, rerr)
		}
		if rerr != nil && !sameLeaf(c, good) {
			t.Fatalf("Reload failed (%v) but the served certificate changed to %s", rerr, serialOf(c))
		}
		if rerr == nil && !sameLeaf(c, good) {
			if _, err := parsePair(certPEM, keyPEM, t0, true); err != nil {
				t.Fatalf("serving %s from files that do not validate: %v", serialOf(c), err)
			}
		}
	})
}

// BenchmarkGetCertificate measures choosing a certificate by SNI among n
// names (certificates of up to 100 names each), half exact and half
// wildcard lookups.
func BenchmarkGetCertificate(b *testing.B) {
	ca := testCA(b)
	for _, n := range []int{1, 100, 10000} {
		dir := b.TempDir()
		cfg := Config{PollInterval: -1}
		for c := 0; c*100 < n; c++ {
			var names []string
			for i := c * 100; i < min(n, (c+1)*100); i++ {
				if i%2 == 0 {
					names = append(names, fmt.Sprintf("host%d.example.com", i))
				} else {
					names = append(names, fmt.Sprintf("*.tenant%d.example.net", i))
				}
			}
			files := writeCert(b, dir, fmt.Sprint(c), issue(b, ca, Leaf{DNSNames: names}))
			if c == 0 {
				cfg.CertFile, cfg.KeyFile = files.CertFile, files.KeyFile
			} else {
				cfg.Certificates = append(cfg.Certificates, files)
			}
		}
		m, err := NewManager(cfg)
		if err != nil {
			b.Fatal(err)
		}
		hellos := []*tls.ClientHelloInfo{hello(fmt.Sprintf("host%d.example.com", (n-1)/2*2)), hello(fmt.Sprintf("api.tenant%d.example.net", max(1, n-1-(n%2))))}
		b.Run(fmt.Sprintf("names=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if c, _ := m.GetCertificate(hellos[i&1]); c == nil {
						b.Fatal("no certificate")
					}
				}
			})
		})
		m.Close()
	}
}
