package ratelimit

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A minimal RFC 8941 Structured Fields List parser for the header tests:
// items are strings, integers or tokens, with parameters.

type sfParam struct {
	key string
	val any // string, int64, sfToken or bool
}

type sfToken string

type sfItem struct {
	val    any
	params []sfParam
}

func (it sfItem) param(k string) (any, bool) {
	for _, p := range it.params {
		if p.key == k {
			return p.val, true
		}
	}
	return nil, false
}

var errSF = errors.New("invalid structured field")

func parseSFList(s string) ([]sfItem, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfItem
	for p.i < len(p.s) {
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
		p.skipOWS()
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, errSF
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return nil, errSF // trailing comma
		}
	}
	return out, nil
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, error) {
	v, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	it := sfItem{val: v}
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		k := p.key()
		if k == "" {
			return sfItem{}, errSF
		}
		var pv any = true
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if pv, err = p.bare(); err != nil {
				return sfItem{}, err
			}
		}
		it.params = append(it.params, sfParam{k, pv})
	}
	return it, nil
}

func (p *sfParser) key() string {
	j := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c == '*' || p.i > j && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	return p.s[j:p.i]
}

func (p *sfParser) bare() (any, error) {
	if p.i >= len(p.s) {
		return nil, errSF
	}
	switch c := p.s[p.i]; {
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			c := p.s[p.i]
			switch {
			case c == '\\':
				p.i++
				if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return nil, errSF
				}
				b.WriteByte(p.s[p.i])
			case c == '"':
				p.i++
				return b.String(), nil
			case c < 0x20 || c > 0x7e:
				return nil, errSF
			default:
				b.WriteByte(c)
			}
		}
		return nil, errSF
	case c == '-' || c >= '0' && c <= '9':
		j := p.i
		p.i++
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i-j > 15 || p.s[j:p.i] == "-" {
			return nil, errSF
		}
		n, err := strconv.ParseInt(p.s[j:p.i], 10, 64)
		return n, err
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		j := p.i
		for p.i < len(p.s) && strings.IndexByte("!#$%&'*+-.^_`|~:/", p.s[p.i]) >= 0 ||
			p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z') {
			p.i++
		}
		return sfToken(p.s[j:p.i]), nil
	}
	return nil, errSF
}

func TestStructuredFieldsListParser(t *testing.T) {
	tests := []struct {
		in string
		n  int
		ok bool
	}{
		{`"a";q=1;w=2, "b";q=3`, 2, true},
		{`"x\"y\\z";r=0;t=-1`, 1, true},
		{`tok;flag`, 1, true},
		{`"a",`, 0, false},
		{`"a" "b"`, 0, false},
		{`"unterminated`, 0, false},
		{`"a";Q=1`, 0, false},
		{`"a";q=1234567890123456`, 0, false},
	}
	for _, tc := range tests {
		items, err := parseSFList(tc.in)
		if (err == nil) != tc.ok || len(items) != tc.n {
			t.Errorf("parseSFList(%q) = %v, %v; want %d items, ok=%v", tc.in, items, err, tc.n, tc.ok)
		}
	}
}

// FuzzHeaders checks that for any valid policy the RateLimit-Policy and
// RateLimit values parse as SF lists carrying the policy's name, a positive
// quota and window, and non-negative r and t.
func FuzzHeaders(f *testing.F) {
	f.Add("burst", 10, int64(1000), 20, int64(5))
	f.Add(`q"uo\te`, 1, int64(1500), 0, int64(0))
	f.Add("", 7, int64(3_600_000), 1, int64(-1))
	f.Add("max", MaxCount, int64(1000), 1, int64(2))        // q = MaxCount: 15 digits
	f.Add("over", MaxCount, int64(1), 1, int64(2))          // q would have 18 digits
	f.Add("huge", 1<<62, int64(1_000_000_000), 1, int64(2)) // count beyond 15 digits
	f.Fuzz(func(t *testing.T, name string, count int, perMs int64, burst int, retryMs int64) {
		r := Rate{Count: count, Per: time.Duration(perMs) * time.Millisecond, Burst: burst, Name: name}
		l, err := New(Config{Rates: []Rate{r}})
		if err != nil {
			return
		}
		h := http.Header{}
		d := Decision{Remaining: l.pols()[0].burst, Reset: time.Duration(retryMs) * time.Millisecond, RetryAfter: time.Duration(retryMs) * time.Millisecond, Allowed: retryMs%2 == 0}
		writeState(h, HeadersDraft, formatPolicy(l.pols()), l.pols()[0].name, l.pols()[0].quota, d)
		pol, err := parseSFList(h.Get(HeaderRateLimitPolicy))
		if err != nil || len(pol) != 1 || pol[0].val != r.name() {
			t.Fatalf("RateLimit-Policy %q: %v, %v", h.Get(HeaderRateLimitPolicy), pol, err)
		}
		for _, k := range []string{"q", "w"} {
			if v, _ := pol[0].param(k); v == nil || v.(int64) <= 0 {
				t.Fatalf("RateLimit-Policy %q: %s = %v", h.Get(HeaderRateLimitPolicy), k, v)
			}
		}
		st, err := parseSFList(h.Get(HeaderRateLimit))
		if err != nil || len(st) != 1 || st[0].val != r.name() {
			t.Fatalf("RateLimit %q: %v, %v", h.Get(HeaderRateLimit), st, err)
		}
		for _, k := range []string{"r", "t"} {
			if v, _ := st[0].param(k); v == nil || v.(int64) < 0 {
				t.Fatalf("RateLimit %q: %s = %v", h.Get(HeaderRateLimit), k, v)
			}
		}
		if v, _ := st[0].param("t"); !d.Allowed && v.(int64) < 1 {
			t.Fatalf("RateLimit %q on a rejection: t must be >= 1", h.Get(HeaderRateLimit))
		}
	})
}

func TestRetryAfterRoundsUp(t *testing.T) {
	tests := []struct {
		rate Rate
		want string
	}{
		{Rate{Count: 3, Per: time.Second, Burst: 1}, "1"},    // 333ms
		{Rate{Count: 1, Per: 1500 * time.Millisecond}, "2"},  // 1.5s
		{Rate{Count: 1000, Per: time.Second, Burst: 1}, "1"}, // 1ms: never 0
		{Rate{Count: 1, Per: 10 * time.Second}, "10"},        // whole seconds stay
		{Rate{Count: 1, Per: 10*time.Second + time.Nanosecond}, "11"},
	}
	for _, tc := range tests {
		t.Run(tc.rate.String(), func(t *testing.T) {
			l := mustNew(t, Config{Rates: []Rate{tc.rate}})
			d0 := l.AllowAt("k", t0)
			d := l.AllowAt("k", t0)
			if !d0.Allowed || d.Allowed {
				t.Fatalf("decisions %+v, %+v", d0, d)
			}
			h := http.Header{}
			writeState(h, HeadersBoth, formatPolicy(l.pols()), l.pols()[0].name, l.pols()[0].quota, d)
			if got := strconv.FormatInt(seconds(d.RetryAfter), 10); got != tc.want {
				t.Errorf("Retry-After for %v = %s, want %s", d.RetryAfter, got, tc.want)
			}
			if got := h.Get("X-RateLimit-Reset"); got != tc.want {
				t.Errorf("X-RateLimit-Reset = %s, want %s", got, tc.want)
			}
		})
	}
	if seconds(0) != 1 || seconds(-time.Second) != 1 || resetSeconds(0) != 0 {
		t.Error("seconds must never return 0 and resetSeconds(0) must be 0")
	}
}

func TestHeaderModes(t *testing.T) {
	for _, tc := range []struct {
		mode          HeaderMode
		draft, legacy bool
	}{{HeadersDraft, true, false}, {HeadersLegacy, false, true}, {HeadersBoth, true, true}, {HeadersNone, false, false}} {
		l := mustNew(t, Config{Rates: []Rate{{Count: 5, Per: time.Minute}}, Headers: tc.mode})
		h := Middleware(l)(okHandler)
		rec := serve(h, "")
		if got := rec.Header().Get("RateLimit") != ""; got != tc.draft {
			t.Errorf("mode %d: RateLimit present = %v", tc.mode, got)
		}
		if got := rec.Header().Get("X-RateLimit-Remaining"); (got != "") != tc.legacy || (tc.legacy && got != "4") {
			t.Errorf("mode %d: X-RateLimit-Remaining = %q", tc.mode, got)
		}
		if tc.legacy && rec.Header().Get("X-RateLimit-Limit") != "5" {
			t.Errorf("mode %d: X-RateLimit-Limit = %q", tc.mode, rec.Header().Get("X-RateLimit-Limit"))
		}
		for range 5 {
			rec = serve(h, "")
		}
		if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
			t.Errorf("mode %d: %d, Retry-After %q", tc.mode, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}

func TestCanonicalHeaderKeys(t *testing.T) {
	for _, k := range []string{keyPolicy, keyState, keyLegacyLimit, keyLegacyRemain, keyLegacyReset} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
	}
	if http.CanonicalHeaderKey(HeaderRateLimitPolicy) != keyPolicy || http.CanonicalHeaderKey(HeaderRateLimit) != keyState {
		t.Error("exported header names and stored keys differ")
	}
}
