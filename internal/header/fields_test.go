package header

import (
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestHasToken(t *testing.T) {
	for _, tc := range []struct {
		values []string
		token  string
		want   bool
	}{
		{nil, "close", false},
		{[]string{"close"}, "close", true},
		{[]string{"keep-alive, Upgrade"}, "upgrade", true},
		{[]string{"a", " X-Secret ,b"}, "x-secret", true},
		{[]string{"closed"}, "close", false},
		{[]string{"trailers;q=1"}, "trailers", false},
		{[]string{"clo\u017fe"}, "close", false}, // no Unicode folding
		{[]string{"\tCLOSE\t, x"}, "close", true},
		{[]string{"\vclose"}, "close", false},
	} {
		if got := HasToken(tc.values, tc.token); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %v, want %v", tc.values, tc.token, got, tc.want)
		}
	}
}

func TestHopByHop(t *testing.T) {
	for _, name := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Proxy-Authentication-Info", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		if !HopByHop(name) {
			t.Errorf("HopByHop(%q) = false", name)
		}
	}
	for _, name := range []string{"Content-Length", "Authorization", "Trailers", "connection", "X-Upgrade"} {
		if HopByHop(name) {
			t.Errorf("HopByHop(%q) = true", name)
		}
	}
}

func TestForwarded(t *testing.T) {
	conn := []string{"keep-alive, X-Secret", "close"}
	for name, want := range map[string]bool{
		"Content-Type": true, "X-Secret": false, "Keep-Alive": false, "Transfer-Encoding": false, "Close": false, "X-Other": true,
	} {
		if got := Forwarded(name, conn); got != want {
			t.Errorf("Forwarded(%q, %q) = %v, want %v", name, conn, got, want)
		}
	}
	if !Forwarded("X-Secret", nil) || Forwarded("Upgrade", nil) {
		t.Error("without a Connection field, only hop-by-hop fields stay")
	}
}

// FuzzHasToken checks HasToken against net/http's own token match.
func FuzzHasToken(f *testing.F) {
	f.Add("keep-alive, Upgrade", "upgrade")
	f.Add("clo\u017fe", "close")
	f.Fuzz(func(t *testing.T, v, token string) {
		if !IsToken(token) {
			return
		}
		if got, want := HasToken([]string{v}, token), httpguts.HeaderValuesContainsToken([]string{v}, token); got != want {
			t.Fatalf("HasToken(%q, %q) = %v, net/http says %v", v, token, got, want)
		}
	})
}
