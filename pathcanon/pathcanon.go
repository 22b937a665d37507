// Package pathcanon computes the one canonical form of a request path and
// host that gatekit's router matches, its policies apply to and its proxy
// forwards.
package pathcanon

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatekit/gatekit/internal/ascii"
)

// Options relaxes the canonical path rules. The zero value is the strict
// default, which is what an API gateway in front of unknown backends should
// use; each field whose name starts with Insecure re-opens a class of
// path-confusion attacks against backends that interpret paths differently.
type Options struct {
	// InsecureAllowEncodedSeparators accepts %2F, %5C and raw '\' inside a
	// segment. They are kept percent-encoded (%2F, %5C) in the canonical
	// path, so they never split segments for matching or forwarding, but a
	// backend that decodes them before routing may see different segments.
	InsecureAllowEncodedSeparators bool
	// InsecureResolveDotSegments resolves "." and ".." segments (RFC 3986
	// remove_dot_segments) instead of rejecting them; the resolved path is
	// the one matched and forwarded. Variants with path parameters ("..;x")
	// are still rejected.
	InsecureResolveDotSegments bool
	// InsecureAllowEmptySegments keeps empty interior segments ("/a//b")
	// instead of rejecting them. Chi path parameters may then match an empty
	// segment.
	InsecureAllowEmptySegments bool
	// MergeSlashes makes a route table answer a path with empty interior segments
	// with a 308 redirect to the path with runs of '/' merged. Canonical
	// merges them. It takes precedence over InsecureAllowEmptySegments.
	MergeSlashes bool
	// CaseInsensitive lower-cases the ASCII letters of the path (percent
	// escapes keep their upper-case hex), so that "/API/Users" and
	// "/api/users" are one path for matching, for policy and upstream. Turn
	// it on when a backend matches paths case-insensitively (ASP.NET, IIS,
	// Express by default): otherwise "/API/users" skips the policy of
	// "/api/*" and still reaches the backend's /api/users handler. Path
	// parameter values are lower-cased too.
	CaseInsensitive bool
	// Params says what happens to path parameters, the part of a segment
	// from a literal ';' on ("/api;v=1/users"). The zero value, KeepParams,
	// keeps them as part of their segment, so "/api;v=1/users" does not
	// match "/api/*". Backends that strip them before routing (Tomcat,
	// Jetty, Spring, some Express setups) treat that path as
	// "/api/users", so with KeepParams it skips the policy of "/api/*" and
	// still reaches that backend's handler; choose RejectParams (400) or
	// StripParams for such backends.
	Params ParamMode
}

// ParamMode says what Canonical does with ';' path parameters.
type ParamMode int

// Path parameter modes.
const (
	// KeepParams keeps path parameters as part of their segment. It is the
	// zero ParamMode.
	KeepParams ParamMode = iota
	// RejectParams rejects a path with a literal ';' with ErrPathParam.
	RejectParams
	// StripParams removes each segment's parameters (from ';' up to the
	// next '/'), as servlet containers do before routing; the stripped path
	// is matched and forwarded.
	StripParams
)

// Check returns an error if o holds a value outside its documented range
// (an unknown ParamMode).
func (o Options) Check() error {
	if o.Params < KeepParams || o.Params > StripParams {
		return fmt.Errorf("pathcanon: unknown ParamMode %d", o.Params)
	}
	return nil
}

// Path returns the canonical form of an escaped request path
// (url.URL.EscapedPath) under the strict default Options.
func Path(escaped string) (string, error) {
	return Options{}.Canonical(escaped)
}

// Canonical returns the canonical form of an escaped request path, the one
// form a table matches, hands to policy middleware and forwards.
//
// Percent-encoded unreserved characters (ALPHA, DIGIT, '-', '.', '_', '~')
// are decoded; every other encoded byte stays encoded with upper-case hex;
// raw characters outside the RFC 3986 pchar set are encoded. Literal
// sub-delimiters (including ';') stay literal and part of their segment.
// Paths with encoded separators, control characters, invalid UTF-8, dot
// segments, empty interior segments or double-encoded dangerous bytes are
// rejected with an error matching ErrBadPath, unless o relaxes that rule.
// With o.CaseInsensitive, ASCII letters are lower-cased; o.Params keeps,
// rejects or strips ';' path parameters.
// Canonical is idempotent: Canonical(Canonical(p)) == Canonical(p). It does
// not allocate when p is already canonical.
func (o Options) Canonical(p string) (string, error) {
	if o.plain(p) {
		return p, nil
	}
	return o.canonical(p)
}

// plain reports whether p is canonical under o by a single scan that
// needs no rewriting rule: an absolute path of bytes that stand for
// themselves (unreserved characters, sub-delimiters, ':', '@'; no '%',
// nothing to encode, no upper-case letter when o.CaseInsensitive, no ';'
// unless o.Params keeps it), without empty interior segments or segments
// that start with '.'. Most request paths are plain; canonical gives the
// same answer for them, more slowly.
func (o Options) plain(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~':
		case c == '/' || c == '.':
			if p[i-1] == '/' {
				return false
			}
		case 'A' <= c && c <= 'Z':
			if o.CaseInsensitive {
				return false
			}
		case c == ';':
			if o.Params != KeepParams {
				return false
			}
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
			c == '*' || c == '+' || c == ',' || c == '=' || c == ':' || c == '@':
		default:
			return false
		}
	}
	return true
}

// canonical is Canonical by the full set of rules.
func (o Options) canonical(p string) (string, error) {
	if p == "" || p[0] != '/' {
		return "", ErrNotAbsolute
	}
	var b []byte // the output, nil while it equals p[:i]
	var u8 []byte
	u8dirty := false // decoded non-ASCII bytes are pending a UTF-8 check
	emit := func(i int, s ...byte) {
		if b == nil {
			b = make([]byte, i, len(p)+8)
			copy(b, p[:i])
		}
		b = append(b, s...)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !ascii.IsHex(p[i+1]) || !ascii.IsHex(p[i+2]) {
				return "", ErrInvalidEscape
			}
			v := ascii.Unhex(p[i+1])<<4 | ascii.Unhex(p[i+2])
			switch {
			case v < 0x20 || v == 0x7f:
				return "", ErrControl
			case v == '/' || v == '\\':
				if !o.InsecureAllowEncodedSeparators {
					return "", ErrEncodedSeparator
				}
			case v >= 0x80:
				u8 = append(u8, v)
				u8dirty = true
			}
			if isUnreserved(v) {
				if o.CaseInsensitive && 'A' <= v && v <= 'Z' {
					v += 'a' - 'A'
				}
				emit(i, v)
			} else if p[i+1] != upperHex[v>>4] || p[i+2] != upperHex[v&15] || b != nil {
				emit(i, '%', upperHex[v>>4], upperHex[v&15])
			}
			if v < 0x80 && u8dirty {
				if !utf8.Valid(u8) {
					return "", ErrInvalidUTF8
				}
				u8, u8dirty = u8[:0], false
			}
			i += 2
			continue
		case c < 0x20 || c == 0x7f:
			return "", ErrControl
		case c == '\\':
			if !o.InsecureAllowEncodedSeparators {
				return "", ErrBackslash
			}
			emit(i, '%', '5', 'C')
		case c >= 0x80:
			u8 = append(u8, c)
			u8dirty = true
			emit(i, '%', upperHex[c>>4], upperHex[c&15])
			continue
		case o.CaseInsensitive && 'A' <= c && c <= 'Z':
			emit(i, c+'a'-'A')
		case isPchar(c) || c == '/':
			if b != nil {
				b = append(b, c)
			}
		default:
			emit(i, '%', upperHex[c>>4], upperHex[c&15])
		}
		if u8dirty {
			if !utf8.Valid(u8) {
				return "", ErrInvalidUTF8
			}
			u8, u8dirty = u8[:0], false
		}
	}
	if u8dirty && !utf8.Valid(u8) {
		return "", ErrInvalidUTF8
	}
	out := p
	if b != nil {
		out = string(b)
	}
	out, err := o.checkSegments(out, strings.IndexByte(out, '%') >= 0)
	if err != nil || o.Params == KeepParams || strings.IndexByte(out, ';') < 0 {
		return out, err
	}
	if o.Params == RejectParams {
		return "", ErrPathParam
	}
	// Stripping may leave an empty segment ("/a/;x/b"): the stripped path
	// goes through the segment rules again.
	o.Params = KeepParams
	return o.checkSegments(stripParams(out), strings.IndexByte(out, '%') >= 0)
}

// stripParams removes from each segment of p its part from ';' on.
func stripParams(p string) string {
	var sb strings.Builder
	sb.Grow(len(p))
	skip := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '/':
			skip = false
		case c == ';':
			skip = true
		}
		if !skip {
			sb.WriteByte(p[i])
		}
	}
	return sb.String()
}

// checkSegments applies the segment rules to an already normalised path.
func (o Options) checkSegments(p string, pct bool) (string, error) {
	dots, empty := false, false
	for i := 0; i < len(p); {
		j := strings.IndexByte(p[i+1:], '/')
		last := j < 0
		if last {
			j = len(p)
		} else {
			j += i + 1
		}
		seg := p[i+1 : j]
		if seg == "" && !last {
			if o.MergeSlashes {
				empty = true
			} else if !o.InsecureAllowEmptySegments {
				return "", ErrEmptySegment
			}
		}
		if seg != "" && seg[0] == '.' {
			// "..;x" and "..%3Bx" are ".." to backends that strip path
			// parameters (before or after decoding).
			base, _, hasParam := strings.Cut(seg, ";")
			if b, _, enc := strings.Cut(base, "%3B"); enc {
				base, hasParam = b, true
			}
			if base == "." || base == ".." {
				if hasParam || !o.InsecureResolveDotSegments {
					return "", ErrDotSegment
				}
				dots = true
			} else if onlyDotsAndSpaces(base) {
				// "..%20", "...", ". .": Windows and some servers trim
				// trailing dots and spaces, making these "." or "..".
				return "", ErrDotSegment
			}
		}
		if pct {
			if err := checkDoubleEncoding(seg); err != nil {
				return "", err
			}
		}
		i = j
	}
	if empty {
		p = mergeSlashes(p)
	}
	if dots {
		p = removeDotSegments(p)
	}
	return p, nil
}

// onlyDotsAndSpaces reports whether an escaped segment consists of dots
// and spaces (raw or as %20) only.
func onlyDotsAndSpaces(seg string) bool {
	for i := 0; i < len(seg); i++ {
		switch {
		case seg[i] == '.' || seg[i] == ' ':
		case strings.HasPrefix(seg[i:], "%20"):
			i += 2
		default:
			return false
		}
	}
	return seg != ""
}

// checkDoubleEncoding rejects %25 followed by the hex encoding of '.', '/',
// '\', '%' (triple and deeper encodings) or a control character. seg is
// already normalised (upper-case hex).
func checkDoubleEncoding(seg string) error {
	for {
		k := strings.Index(seg, "%25")
		if k < 0 {
			return nil
		}
		seg = seg[k+3:]
		if len(seg) >= 2 && ascii.IsHex(seg[0]) && ascii.IsHex(seg[1]) {
			v := ascii.Unhex(seg[0])<<4 | ascii.Unhex(seg[1])
			if v == '.' || v == '/' || v == '\\' || v == '%' || v < 0x20 || v == 0x7f {
				return ErrDoubleEncoding
			}
		}
	}
}

// mergeSlashes replaces each run of '/' with one '/'.
func mergeSlashes(p string) string {
	var sb strings.Builder
	sb.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		sb.WriteByte(p[i])
	}
	return sb.String()
}

// removeDotSegments resolves exact "." and ".." segments in an absolute path.
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is an RFC 3986 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPchar reports whether c may appear literally in a path segment
// (RFC 3986 pchar, excluding pct-encoded).
func isPchar(c byte) bool {
	if isUnreserved(c) {
		return true
	}
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}
