package ratelimit

import (
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/reqkey"
)

// s5Request builds request i of RELIABILITY.md S5 variant B: a front proxy
// at 127.0.0.1 (trusted) forwards real client 127.0.0.2..5, appending it
// to an X-Forwarded-For whose prefix the attacker chose (random addresses,
// the trusted proxy's own address, garbage), with spoofed X-Real-IP and
// Forwarded headers on top. It returns the request and its real client.
func s5Request(rng *rand.Rand, i int) (*http.Request, string) {
	client := "127.0.0." + strconv.Itoa(2+i%4)
	var prefix []string
	var b [4]byte
	for range rng.IntN(4) {
		switch rng.IntN(4) {
		case 0:
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			prefix = append(prefix, netip.AddrFrom4(b).String())
		case 1:
			prefix = append(prefix, "127.0.0.1")
		case 2:
			prefix = append(prefix, "2001:db8::"+strconv.Itoa(rng.IntN(1000)))
		default:
			prefix = append(prefix, "not-an-ip")
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:" + strconv.Itoa(1024+rng.IntN(60000))
	r.Header.Set("X-Forwarded-For", strings.Join(append(prefix, client), ", "))
	r.Header.Set("X-Real-IP", "198.51.100."+strconv.Itoa(rng.IntN(256)))
	r.Header.Set("Forwarded", "for=203.0.113."+strconv.Itoa(rng.IntN(256)))
	return r, client
}

// TestS5TrustedProxyVariantB is RELIABILITY.md S5 variant B: limit 10/s
// with a burst of 10 per client IP, trusted proxies 127.0.0.1/32, 1,000
// requests in 5 s from four real clients behind the proxy, each with
// attacker-chosen forwarding prefixes. The rightmost untrusted address is
// the key: exactly 4 keys, each client allowed at most burst + rate ×
// elapsed = 60 whatever the prefixes.
func TestS5TrustedProxyVariantB(t *testing.T) {
	const burst, perSec, requests, span = 10, 10, 1000, 5 * time.Second
	res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	rate := Rate{Count: perSec, Per: time.Second, Burst: burst}

	t.Run("injected time", func(t *testing.T) {
		// The key comes from the real middleware chain; the decision is
		// made at an injected time, 5ms apart, so the 1,000 requests span 5 s.
		l := mustNew(t, Config{Rates: []Rate{rate}})
		var key string
		capture := clientip.Middleware(res)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { key = reqkey.ClientIP(r) }))
		rng := rand.New(rand.NewPCG(21, 22))
		allowed := map[string]int{}
		for i := range requests {
			r, client := s5Request(rng, i)
			capture.ServeHTTP(httptest.NewRecorder(), r)
			if key != client {
				t.Fatalf("request %d (X-Forwarded-For %q): key %q, want the real client %q", i, r.Header.Get("X-Forwarded-For"), key, client)
			}
			if l.AllowAt(key, t0.Add(time.Duration(i)*span/requests)).Allowed {
				allowed[key]++
			}
		}
		if st := l.Stats(); st.Keys != 4 || len(allowed) != 4 {
			t.Errorf("Keys = %d, clients admitted = %v; want 4", st.Keys, allowed)
		}
		limit := burst + perSec*int(span/time.Second) // 60
		for c, n := range allowed {
			// Each client asks 50/s: it is held to its limit, give or
			// take the last token of the window.
			if n > limit || n < limit-1 {
				t.Errorf("client %s allowed %d of %d, want %d (±1, at most %d)", c, n, requests/4, limit, limit)
			}
		}
	})

	t.Run("middleware", func(t *testing.T) {
		// The whole chain with the real clock: the requests take far less
		// than 5 s, so each client gets its burst and what refills meanwhile.
		l := mustNew(t, Config{Rates: []Rate{rate}})
		h := clientip.Middleware(res)(Middleware(l)(okHandler))
		rng := rand.New(rand.NewPCG(23, 24))
		allowed := map[string]int{}
		start := time.Now()
		for i := range requests {
			r, client := s5Request(rng, i)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code == http.StatusOK {
				allowed[client]++
			}
		}
		limit := burst + int(time.Since(start).Seconds()*perSec) + 1
		if st := l.Stats(); st.Keys != 4 {
			t.Errorf("Keys = %d, want 4", st.Keys)
		}
		for i := range 4 {
			c := "127.0.0." + strconv.Itoa(2+i)
			if n := allowed[c]; n < burst || n > limit {
				t.Errorf("client %s allowed %d, want %d..%d", c, n, burst, limit)
			}
		}
	})
}
