package pathcanon

import (
	"errors"
	"strings"
)

// ErrBadPath is matched by errors.Is for every error that rejects a request
// path during canonicalisation: ErrNotAbsolute, ErrInvalidEscape,
// ErrEncodedSeparator, ErrBackslash, ErrControl, ErrInvalidUTF8,
// ErrDotSegment, ErrEmptySegment, ErrDoubleEncoding and ErrPathParam. A
// route table answers them with 400 Bad Request.
var ErrBadPath = errors.New("pathcanon: invalid request path")

// pathError is a path rejection reason; it matches ErrBadPath with errors.Is.
// Its text is fixed and never contains client input.
type pathError string

func (e pathError) Error() string        { return string(e) }
func (e pathError) Is(target error) bool { return target == ErrBadPath }

// Reason returns the fixed, client-safe reason of a path rejection
// ("dot-segment in path"), without the package prefix, or "invalid request
// path" for any other error.
func Reason(err error) string {
	var pe pathError
	if errors.As(err, &pe) {
		return strings.TrimPrefix(string(pe), "pathcanon: ")
	}
	return "invalid request path"
}

// Path rejection reasons. Each matches ErrBadPath with errors.Is.
var (
	// ErrNotAbsolute rejects a path that is empty or does not start with '/'
	// (asterisk-form "*", CONNECT authority-form, opaque URLs).
	ErrNotAbsolute error = pathError("pathcanon: path is not absolute")
	// ErrInvalidEscape rejects '%' not followed by two hexadecimal digits.
	ErrInvalidEscape error = pathError("pathcanon: invalid percent-encoding in path")
	// ErrEncodedSeparator rejects %2F and %5C unless
	// Options.InsecureAllowEncodedSeparators is set.
	ErrEncodedSeparator error = pathError("pathcanon: encoded path separator")
	// ErrBackslash rejects a raw '\' unless
	// Options.InsecureAllowEncodedSeparators is set.
	ErrBackslash error = pathError("pathcanon: backslash in path")
	// ErrControl rejects NUL and other control characters, raw or encoded.
	ErrControl error = pathError("pathcanon: control character in path")
	// ErrInvalidUTF8 rejects decoded bytes that are not valid UTF-8,
	// including overlong encodings such as %C0%AE.
	ErrInvalidUTF8 error = pathError("pathcanon: path is not valid UTF-8")
	// ErrDotSegment rejects "." and ".." segments, raw or encoded (%2e), and
	// their path-parameter variants ("..;x", "..%3bx"), unless
	// Options.InsecureResolveDotSegments is set.
	ErrDotSegment error = pathError("pathcanon: dot-segment in path")
	// ErrEmptySegment rejects an empty interior segment ("//") unless
	// Options.MergeSlashes or Options.InsecureAllowEmptySegments is set.
	ErrEmptySegment error = pathError("pathcanon: empty path segment")
	// ErrDoubleEncoding rejects %25 followed by the encoding of '.', '/',
	// '\' or a control character (such as %252e), which a backend that
	// decodes twice would turn into a traversal.
	ErrDoubleEncoding error = pathError("pathcanon: double-encoded path")
	// ErrPathParam rejects a literal ';' (a path parameter such as
	// "/api;v=1/users") when Options.Params is RejectParams.
	ErrPathParam error = pathError("pathcanon: path parameter in path")
)
