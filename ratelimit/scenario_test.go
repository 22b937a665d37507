package ratelimit

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatekit/gatekit/clientip"
	"github.com/gatekit/gatekit/reqkey"
)

// proxiedRequest builds request i of a spoofing client mix: a front proxy
// at 127.0.0.1 (trusted) forwards real client 127.0.0.2..5, appending it
// to an X-Forwarded-For whose prefix the attacker chose (random addresses,
// the trusted proxy's own address, garbage), with spoofed X-Real-IP and
// Forwarded headers on top. It returns the request and its real client.
func proxiedRequest(rng *rand.Rand, i int) (*http.Request, string) {
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

// TestForwardedForPrefixCannotChangeClientLimit limits 10/s
// with a burst of 10 per client IP, trusted proxies 127.0.0.1/32, 1,000
// requests in 5 s from four real clients behind the proxy, each with
// attacker-chosen forwarding prefixes. The rightmost untrusted address is
// the key: exactly 4 keys, each client allowed at most burst + rate ×
// elapsed = 60 whatever the prefixes.
func TestForwardedForPrefixCannotChangeClientLimit(t *testing.T) {
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
			r, client := proxiedRequest(rng, i)
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
			r, client := proxiedRequest(rng, i)
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

func TestOneIPv6Slash64IsOneKey(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20}}})
	prefix := netip.MustParseAddr("2001:db8:1:2::").As16()
	rng := rand.New(rand.NewPCG(5, 6))
	r := httptest.NewRequest("GET", "/", nil)
	allowed := 0
	for range keyExplosion() / 10 {
		a := prefix
		binary.BigEndian.PutUint64(a[8:], rng.Uint64()) // random interface ID
		r.RemoteAddr = netip.AddrPortFrom(netip.AddrFrom16(a), 443).String()
		if l.AllowAt(reqkey.ClientIP(r), t0).Allowed {
			allowed++
		}
	}
	if st := l.Stats(); st.Keys != 1 || allowed != 20 {
		t.Errorf("Keys = %d, allowed = %d; want 1 key admitting its burst of 20", st.Keys, allowed)
	}
}

func TestSpoofedForwardedForIsOneKey(t *testing.T) {
	l := mustNew(t, Config{Rates: []Rate{{Count: 10, Per: time.Second, Burst: 20}}})
	res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := clientip.Middleware(res)(Middleware(l)(ok))
	rng := rand.New(rand.NewPCG(7, 8))
	var b [4]byte
	allowed := 0
	start := time.Now()
	for range keyExplosion() / 50 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "198.51.100.7:40000" // not a trusted proxy
		binary.BigEndian.PutUint32(b[:], rng.Uint32())
		r.Header.Set("X-Forwarded-For", netip.AddrFrom4(b).String())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			allowed++
		}
	}
	// The middleware reads the real clock: 10/s refill while the loop ran.
	limit := 20 + int(time.Since(start).Seconds()*10) + 1
	if st := l.Stats(); st.Keys != 1 || allowed < 20 || allowed > limit {
		t.Errorf("Keys = %d, allowed = %d; want one key (the peer) admitting 20..%d", st.Keys, allowed, limit)
	}
}

// TestContendedKeyNeverOverAdmits runs many goroutines on one key with the real clock and
// checks that the limiter admitted at most burst + rate × elapsed + 1,
// the bound x/time/rate's Allow breaks under contention.
// "stale" reads the clock before the call, as rate.Limiter.Allow does:
// timestamps arrive out of order, and still no token is minted twice.
// "queue" sends the same crowd through Wait. Each mode runs for 2 s, long
// enough for thousands of refills (300 ms under -short); the modes run in parallel, so the
// test takes 2 s of wall time.
func TestContendedKeyNeverOverAdmits(t *testing.T) {
	const burst, perSec = 20, 2000
	run := 2 * time.Second
	if testing.Short() {
		run = 300 * time.Millisecond
	}
	for _, mode := range []string{"clock", "stale", "queue"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			l := mustNew(t, Config{Rates: []Rate{{Count: perSec, Per: time.Second, Burst: burst}}, MaxWait: 20 * time.Millisecond})
			var allowed, calls atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			stop := start.Add(run)
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						if n%16 == 0 && time.Now().After(stop) {
							return
						}
						calls.Add(1)
						var ok bool
						switch mode {
						case "clock":
							ok = l.Allow("hot").Allowed
						case "stale":
							ok = l.AllowAt("hot", time.Now()).Allowed
						case "queue":
							ok = l.Wait(context.Background(), "hot") == nil
						}
						if ok {
							allowed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			if elapsed < run {
				t.Fatalf("ran %v, want at least %v", elapsed, run)
			}
			limit := burst + int64(elapsed.Seconds()*perSec) + 1
			if got := allowed.Load(); got > limit || got < burst {
				t.Fatalf("admitted %d in %v (%d calls), want between %d and %d", got, elapsed, calls.Load(), burst, limit)
			}
			t.Logf("admitted %d of %d calls in %v (limit %d)", allowed.Load(), calls.Load(), elapsed, limit)
		})
	}
}
