package tls

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestParsePairValidatesBeforeServing(t *testing.T) {
	ca, other := testCA(t), testCA(t)
	good := issue(t, ca, Leaf{DNSNames: []string{"API.Example.com", "*.svc.example.com"}, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}})
	goodCert, goodKey := pemOf(t, good)
	_, otherKey := pemOf(t, issue(t, ca, Leaf{DNSNames: []string{"api.example.com"}}))
	expired := issue(t, ca, Leaf{DNSNames: []string{"api.example.com"}, Validity: -time.Hour})
	expCert, expKey := pemOf(t, expired)
	nameless := issue(t, ca, Leaf{CommonName: "only a common name"})
	nlCert, nlKey := pemOf(t, nameless)
	// A chain whose second certificate is another CA's: it does not link.
	badChain := issue(t, ca, Leaf{DNSNames: []string{"api.example.com"}})
	badChain.Certificate[1] = other.Certificate().Raw
	bcCert, bcKey := pemOf(t, badChain)

	tests := []struct {
		name      string
		cert, key []byte
		needNames bool
		wantErr   error // nil: accepted; errAny: any error
		wantNames []string
	}{
		{"good pair, names lowercased", goodCert, goodKey, true, nil, []string{"api.example.com", "*.svc.example.com", "10.0.0.1"}},
		{"key of another certificate", goodCert, otherKey, true, errAny, nil},
		{"truncated certificate", goodCert[:len(goodCert)/4], goodKey, true, errAny, nil},
		{"truncated key", goodCert, goodKey[:len(goodKey)/2], true, errAny, nil},
		{"empty files", nil, nil, true, errAny, nil},
		{"expired", expCert, expKey, true, ErrExpired, nil},
		{"no names where names are needed", nlCert, nlKey, true, ErrNoNames, nil},
		{"no names for a client certificate", nlCert, nlKey, false, nil, []string{}},
		{"chain does not link", bcCert, bcKey, true, ErrChain, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePair(tc.cert, tc.key, t0, tc.needNames)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("parsePair = %v, want success", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("parsePair error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := p.names; len(got) != len(tc.wantNames) || (len(got) > 0 && !equalStrings(got, tc.wantNames)) {
				t.Fatalf("names = %q, want %q", got, tc.wantNames)
			}
			if p.cert.Leaf == nil {
				t.Fatal("Leaf not set")
			}
		})
	}
}

func TestParsePairChecksValidityAtTheGivenInstant(t *testing.T) {
	ca := testCA(t)
	c, k := pemOf(t, issue(t, ca, Leaf{DNSNames: []string{"a.test"}, Validity: 48 * time.Hour}))
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{t0.Add(-2 * time.Minute), false}, // before NotBefore (t0 - 1 min)
		{t0, true},
		{t0.Add(47 * time.Hour), true},
		{t0.Add(49 * time.Hour), false},
	} {
		if _, err := parsePair(c, k, tc.at, true); (err == nil) != tc.ok {
			t.Errorf("parsePair at t0%+v: err = %v, want ok=%v", tc.at.Sub(t0), err, tc.ok)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"example.com:8443", "example.com"},
		{"[::1]:443", "::1"},
		{"[::1]", "::1"},
		{"", ""},
	} {
		if got := normalizeName(tc.in); got != tc.want {
			t.Errorf("normalizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

var errAny = errors.New("any error")

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
