package cache

import (
	"strconv"
	"strings"
)

// maxDelta is the value RFC 9111 §1.2.2 requires for a delta-seconds value
// too large to represent: 2^31 seconds.
const maxDelta = 2147483648

// directives is a parsed Cache-Control field (RFC 9111 §5.2). Delta values
// are seconds; -1 means the directive is absent. A directive whose value is
// invalid (not a non-negative integer) is recorded as 0, which makes a
// response stale rather than fresh for longer than intended.
type directives struct {
	MaxAge, SMaxAge, MaxStale, MinFresh     int64
	StaleWhileRevalidate, StaleIfError      int64
	NoStore, NoCache, Private, Public       bool
	MustRevalidate, ProxyRevalidate         bool
	OnlyIfCached, MustUnderstand, Immutable bool
	// MaxStaleAny is set for a max-stale directive without a value.
	MaxStaleAny bool
	// NoCacheFields and PrivateFields hold the field names of the qualified
	// forms no-cache="..." and private="...", lowercased.
	NoCacheFields, PrivateFields []string
}

// parseDirectives parses the Cache-Control field values in vals (one per
// field line). Names are case-insensitive; the first occurrence of a
// directive wins (RFC 9111 §4.2.1). It never fails: unknown directives are
// ignored and malformed ones are skipped.
func parseDirectives(vals []string) directives {
	d := directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
	var seen uint32
	for _, v := range vals {
		for len(v) > 0 {
			var name, arg string
			name, arg, v = nextDirective(v)
			if name == "" {
				continue
			}
			if p, bit := deltaField(&d, name); p != nil {
				if seen&bit != 0 {
					continue
				}
				seen |= bit
				*p = parseDelta(arg)
				if name == "max-stale" && arg == "" {
					d.MaxStaleAny = true
				}
				continue
			}
			switch {
			case name == "no-cache" && arg != "":
				d.NoCacheFields = fieldNames(arg)
			case name == "private" && arg != "":
				d.PrivateFields = fieldNames(arg)
			case name == "only-if-cached": // a request directive only
				d.OnlyIfCached = true
			default:
				if f := flagField(&d, name); f != nil {
					*f = true
				}
			}
		}
	}
	return d
}

// flagField returns the field of d for a response directive that takes no
// argument (or whose argument Cache-Control and the targeted fields parse
// apart), or nil.
func flagField(d *directives, name string) *bool {
	switch name {
	case "no-store":
		return &d.NoStore
	case "no-cache":
		return &d.NoCache
	case "private":
		return &d.Private
	case "public":
		return &d.Public
	case "must-revalidate":
		return &d.MustRevalidate
	case "proxy-revalidate":
		return &d.ProxyRevalidate
	case "must-understand":
		return &d.MustUnderstand
	case "immutable":
		return &d.Immutable
	}
	return nil
}

// deltaField returns the field of d for a directive taking delta-seconds
// and a bit identifying it, or nil.
func deltaField(d *directives, name string) (*int64, uint32) {
	switch name {
	case "max-age":
		return &d.MaxAge, 1
	case "s-maxage":
		return &d.SMaxAge, 2
	case "max-stale":
		return &d.MaxStale, 4
	case "min-fresh":
		return &d.MinFresh, 8
	case "stale-while-revalidate":
		return &d.StaleWhileRevalidate, 16
	case "stale-if-error":
		return &d.StaleIfError, 32
	}
	return nil, 0
}

// nextDirective splits the first directive off s. It returns the lowercased
// name, the argument (unquoted) and the rest of s.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.ToLower(strings.TrimSpace(s[:i]))
	if i == len(s) || s[i] == ',' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if len(s) > 0 && s[0] == '"' {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		if j < len(s) {
			j++ // closing quote
		}
		rest = s[j:]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		j = len(s)
	}
	return name, strings.TrimSpace(s[:j]), s[j:]
}

// parseDelta parses delta-seconds. Absent or invalid values yield 0 (stale);
// values too large to represent yield maxDelta.
func parseDelta(s string) int64 {
	if s == "" {
		return 0
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxDelta {
		return maxDelta
	}
	return n
}

// fieldNames splits a qualified directive's argument into lowercased field names.
func fieldNames(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return out
}
