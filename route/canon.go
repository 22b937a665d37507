package route

import "github.com/gatekit/gatekit/internal/pathcanon"

// ErrBadPath is matched by errors.Is for every error that rejects a request
// path during canonicalisation: ErrNotAbsolute, ErrInvalidEscape,
// ErrEncodedSeparator, ErrBackslash, ErrControl, ErrInvalidUTF8,
// ErrDotSegment, ErrEmptySegment and ErrDoubleEncoding. A table answers
// them with 400 Bad Request.
var ErrBadPath = pathcanon.ErrBadPath

// Path rejection reasons. Each matches ErrBadPath with errors.Is; their
// text is fixed and never contains client input.
var (
	// ErrNotAbsolute rejects a path that is empty or does not start with '/'
	// (asterisk-form "*", CONNECT authority-form, opaque URLs).
	ErrNotAbsolute = pathcanon.ErrNotAbsolute
	// ErrInvalidEscape rejects '%' not followed by two hexadecimal digits.
	ErrInvalidEscape = pathcanon.ErrInvalidEscape
	// ErrEncodedSeparator rejects %2F and %5C unless
	// PathOptions.InsecureAllowEncodedSeparators is set.
	ErrEncodedSeparator = pathcanon.ErrEncodedSeparator
	// ErrBackslash rejects a raw '\' unless
	// PathOptions.InsecureAllowEncodedSeparators is set.
	ErrBackslash = pathcanon.ErrBackslash
	// ErrControl rejects NUL and other control characters, raw or encoded.
	ErrControl = pathcanon.ErrControl
	// ErrInvalidUTF8 rejects decoded bytes that are not valid UTF-8,
	// including overlong encodings such as %C0%AE.
	ErrInvalidUTF8 = pathcanon.ErrInvalidUTF8
	// ErrDotSegment rejects "." and ".." segments, raw or encoded (%2e),
	// their path-parameter variants ("..;x", "..%3bx") and segments of only
	// dots and spaces ("...", "..%20"), unless
	// PathOptions.InsecureResolveDotSegments is set (which still rejects
	// the variants).
	ErrDotSegment = pathcanon.ErrDotSegment
	// ErrEmptySegment rejects an empty interior segment ("//") unless
	// PathOptions.MergeSlashes or PathOptions.InsecureAllowEmptySegments is set.
	ErrEmptySegment = pathcanon.ErrEmptySegment
	// ErrDoubleEncoding rejects %25 followed by the encoding of '.', '/',
	// '\', '%' or a control character (such as %252e), which a backend that
	// decodes twice would turn into a traversal.
	ErrDoubleEncoding = pathcanon.ErrDoubleEncoding
)

// PathOptions relaxes the canonical path rules. The zero value is the strict
// default, which is what an API gateway in front of unknown backends should
// use; each field whose name starts with Insecure re-opens a class of
// path-confusion attacks against backends that interpret paths differently:
//
//   - InsecureAllowEncodedSeparators accepts %2F, %5C and raw '\' inside a
//     segment, kept encoded so they never split segments here, though a
//     backend that decodes them before routing may see different segments.
//   - InsecureResolveDotSegments resolves "." and ".." (RFC 3986
//     remove_dot_segments) instead of rejecting them; the resolved path is
//     matched and forwarded. Variants with parameters ("..;x") are still
//     rejected.
//   - InsecureAllowEmptySegments keeps empty interior segments ("/a//b");
//     path parameters may then match an empty segment.
//   - MergeSlashes answers a path with empty interior segments with a 308
//     redirect to the path with runs of '/' merged; Canonical merges them.
//     It takes precedence over InsecureAllowEmptySegments.
//
// Its Canonical method returns the canonical form of an escaped request
// path, the one form a table matches, hands to policy middleware and
// forwards: percent-encoded unreserved characters are decoded, every other
// encoded byte stays encoded with upper-case hex, raw characters outside
// the RFC 3986 pchar set are encoded, literal sub-delimiters (including
// ';') stay literal and part of their segment. Canonical is idempotent and
// does not allocate when its input is already canonical.
type PathOptions = pathcanon.Options

// CanonicalPath returns the canonical form of an escaped request path
// (url.URL.EscapedPath) under the strict default PathOptions.
func CanonicalPath(escaped string) (string, error) {
	return pathcanon.Path(escaped)
}

// CanonicalHost returns the routing form of a Host header or URL authority:
// ASCII lower case, without a port and without trailing dots. IPv6
// literals keep their brackets. It does not allocate when h is already
// canonical. Internationalised names must be configured and sent in their
// ASCII (xn--) form.
func CanonicalHost(h string) string {
	return pathcanon.Host(h)
}
