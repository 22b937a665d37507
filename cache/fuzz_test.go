package cache

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzMiddleware feeds client and origin header values through two
// requests and checks the properties that must hold whatever they are: no
// panic, one well-formed Cache-Status member of ours with a registered fwd
// token, and a hit never carrying a Set-Cookie.
func FuzzMiddleware(f *testing.F) {
	f.Add("max-age=0", "gzip, br", `"a"`, "max-age=60", "5", "Accept-Encoding", "")
	f.Add("only-if-cached, max-stale", "", "*", "s-maxage=1, must-revalidate", "x", "*", "Thu, 01 Jan 1970 00:00:00 GMT")
	f.Add("no-cache", "x-gzip;q=0", `W/"a"`, `no-cache="set-cookie"`, "", "accept-language, ", "0")
	f.Fuzz(func(t *testing.T, reqCC, ae, inm, respCC, age, vary, expires string) {
		fx := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
			h := w.Header()
			for k, v := range map[string]string{"Cache-Control": respCC, "Age": age, "Vary": vary, "Expires": expires, "ETag": `"a"`} {
				if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
					h.Set(k, v)
				}
			}
			if n%2 == 0 {
				h.Set("Set-Cookie", "sid=x")
			}
			io.WriteString(w, "body")
		})
		for range 3 {
			rec := fx.do("GET", "http://example.com/", "Cache-Control", reqCC, "Accept-Encoding", ae, "If-None-Match", inm)
			st := ourStatus(rec.Header())
			if !strings.HasPrefix(st, "gatekit; ") {
				t.Fatalf("Cache-Status %q", st)
			}
			if i := strings.Index(st, "fwd="); i >= 0 {
				tok, _, _ := strings.Cut(st[i+4:], ";")
				switch tok {
				case "uri-miss", "vary-miss", "stale", "request", "bypass", "method", "miss":
				default:
					t.Fatalf("unregistered fwd token in %q", st)
				}
			}
			if isHit(st) && rec.Header().Get("Set-Cookie") != "" {
				t.Fatalf("a hit carried Set-Cookie: %q", rec.Header())
			}
			fx.clk.Add(time.Second)
		}
	})
}
