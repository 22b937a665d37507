package validate

import (
	"errors"
	"net/url"
	"strings"
	"sync"

	"github.com/gatekit/gatekit/internal/ascii"
)

// A query is a request's query string, read only as far as the checks of
// an operation need: most operations declare a few scalar query
// parameters, which are found by scanning the raw string without building
// url.ParseQuery's map (a map, a slice per key and a string per escaped
// key or value). Where a whole url.Values is needed (deepObject
// parameters, kin-openapi's decoders) it is parsed once, on first use.
// A nil *query is an empty query string. A query is used by one goroutine.
type query struct {
	raw    string
	vals   url.Values // the whole query parsed, when parsed
	parsed bool

	// The non-empty pairs, split by check when there are at most
	// splitPairs, and how many (0 or -1 when not split: first scans raw).
	pairs  [splitPairs]queryPair
	npairs int

	// The last answer of first, which a parameter's checks ask for twice
	// (is it repeated, then its value).
	lastName  string
	lastValue string
	lastN     int
}

// splitPairs is how many pairs of a query check keeps split, so that
// looking several parameters up does not scan the query string again.
const splitPairs = 8

// A queryPair is one "key=value" of a query, both still escaped.
type queryPair struct {
	key, val string
	keyEsc   bool // key has escapes: compared unescaped
}

// wholeParseAbove is the number of '&' above which check parses the whole
// query with url.ParseQuery, so that its limit on the number of
// parameters, and its error, apply unchanged.
const wholeParseAbove = 64

// parseQueryLimit is the most parameters url.ParseQuery accepts, found
// once by asking it (GODEBUG=urlmaxqueryparams can lower it, from the
// environment or the main package's go:debug settings); a limit above
// splitCap is reported as splitCap. A query or form with more parameters
// than that is read by url.ParseQuery itself, so that its refusal applies.
var parseQueryLimit = sync.OnceValue(probeParseQueryLimit)

func probeParseQueryLimit() int {
	amps := strings.Repeat("&", splitCap)
	for n := 1; n <= splitCap; n++ {
		if _, err := url.ParseQuery(amps[:n-1]); err != nil {
			return n - 1
		}
	}
	return splitCap
}

// splitCap bounds the parameters that are ever read without
// url.ParseQuery: a query of up to wholeParseAbove+1, a form of up to
// maxFormFields.
const splitCap = max(wholeParseAbove+1, maxFormFields)

// errMalformedQuery is the verdict on a query url.ParseQuery refuses for
// its bytes (ascii.WellFormedQuery).
var errMalformedQuery = errors.New("malformed query: a ';' separator or a malformed escape")

// check returns an error when url.ParseQuery would refuse the query: a
// ';' in it, a '%' not followed by two hex digits, more parameters than
// its limit. It splits the pairs of a query of up to splitPairs of them,
// finding each special byte with strings.IndexByte, and allocates nothing
// for a query of up to wholeParseAbove+1 parameters.
func (q *query) check() error {
	raw := q.raw
	var err error
	if !ascii.WellFormedQuery(raw) {
		err = errMalformedQuery
	}
	amps := 0
	q.npairs = 0
	for rest := raw; ; amps++ {
		i := strings.IndexByte(rest, '&')
		if i < 0 {
			q.addPair(rest)
			break
		}
		q.addPair(rest[:i])
		rest = rest[i+1:]
	}
	if amps > wholeParseAbove || amps+1 > parseQueryLimit() {
		q.vals, err = url.ParseQuery(raw)
		q.parsed = true
	}
	return err
}

// addPair keeps the non-empty pair ("key=value", escaped) split, or marks
// the query as not split when it has more than splitPairs pairs.
func (q *query) addPair(pair string) {
	if pair == "" || q.npairs < 0 {
		return
	}
	if q.npairs == len(q.pairs) {
		q.npairs = -1
		return
	}
	k, v, _ := strings.Cut(pair, "=")
	q.pairs[q.npairs] = queryPair{k, v, escaped(k)}
	q.npairs++
}

// all returns the whole query as url.ParseQuery parses it. It is called
// only after check accepted the query.
func (q *query) all() url.Values {
	if q == nil {
		return nil
	}
	if !q.parsed {
		q.vals, _ = url.ParseQuery(q.raw)
		q.parsed = true
	}
	return q.vals
}

// first returns the first value of the parameter name and how many values
// it has, as url.ParseQuery would give them, without allocating unless a
// matching key or its value is escaped.
func (q *query) first(name string) (string, int) {
	if q == nil {
		return "", 0
	}
	if q.parsed {
		vs := q.vals[name]
		if len(vs) == 0 {
			return "", 0
		}
		return vs[0], len(vs)
	}
	if name != "" && name == q.lastName {
		return q.lastValue, q.lastN
	}
	var v string
	n := 0
	if q.npairs > 0 {
		for _, p := range q.pairs[:q.npairs] {
			if !p.keyEsc && p.key == name || p.keyEsc && unescapeQuery(p.key) == name { // "a+b" is "a b"
				if n == 0 {
					v = unescapeQuery(p.val)
				}
				n++
			}
		}
		q.lastName, q.lastValue, q.lastN = name, v, n
		return v, n
	}
	for s := q.raw; s != ""; {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if val, ok := q.match(pair, name); ok {
			if n == 0 {
				v = unescapeQuery(val)
			}
			n++
		}
	}
	q.lastName, q.lastValue, q.lastN = name, v, n
	return v, n
}

// values returns the values of the parameter name (nil when absent), as
// url.ParseQuery would give them.
func (q *query) values(name string) []string {
	if q == nil {
		return nil
	}
	if q.parsed {
		return q.vals[name]
	}
	var vs []string
	for s := q.raw; s != ""; {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if val, ok := q.match(pair, name); ok {
			vs = append(vs, unescapeQuery(val))
		}
	}
	return vs
}

// match reports whether the key of pair ("key=value", escaped) is name,
// and returns its escaped value.
func (q *query) match(pair, name string) (string, bool) {
	if pair == "" {
		return "", false
	}
	key, val, _ := strings.Cut(pair, "=")
	if !escaped(key) {
		return val, key == name
	}
	return val, unescapeQuery(key) == name
}

// escaped reports whether a query component has escapes ('%' or '+').
func escaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// unescapeQuery is url.QueryUnescape of a component check has accepted:
// the runs between escapes copied whole into a stack buffer and one
// allocation for the result, where url.QueryUnescape scans twice and
// writes byte by byte through a strings.Builder. A malformed escape (never
// in a checked component) or a long value takes url.QueryUnescape itself.
func unescapeQuery(s string) string {
	pct := strings.IndexByte(s, '%')
	plus := strings.IndexByte(s, '+') >= 0
	if pct < 0 && !plus {
		return s
	}
	var buf [128]byte
	if len(s) > len(buf) {
		u, _ := url.QueryUnescape(s)
		return u
	}
	if pct < 0 {
		pct = len(s)
	}
	// Runs up to the next '%' are copied whole (a '+' in them is a space);
	// each escape is decoded into one byte.
	n := 0
	for i := 0; ; {
		m := n + copy(buf[n:], s[i:pct])
		if plus {
			for k := n; k < m; k++ {
				if buf[k] == '+' {
					buf[k] = ' '
				}
			}
		}
		n, i = m, pct
		if i == len(s) {
			break
		}
		if i+2 >= len(s) || !ascii.IsHex(s[i+1]) || !ascii.IsHex(s[i+2]) {
			u, _ := url.QueryUnescape(s)
			return u
		}
		buf[n] = ascii.Unhex(s[i+1])<<4 | ascii.Unhex(s[i+2])
		n++
		i += 3
		if j := strings.IndexByte(s[i:], '%'); j >= 0 {
			pct = i + j
		} else {
			pct = len(s)
		}
	}
	return string(buf[:n])
}
