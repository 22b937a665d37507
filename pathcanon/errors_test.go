package pathcanon

import (
	"errors"
	"strings"
	"testing"
)

func TestReasonIsClientSafe(t *testing.T) {
	_, err := Path("/a/../b")
	if got := Reason(err); got != "dot-segment in path" {
		t.Errorf("Reason(%v) = %q", err, got)
	}
	if got := Reason(errors.New("pathcanon: something else")); got != "invalid request path" {
		t.Errorf("Reason(other) = %q", got)
	}
}

// TestEveryRejectionMatchesErrBadPath checks that each rejection reason
// matches ErrBadPath, so that a caller answering ErrBadPath with 400 covers
// them all, and that its Reason is its own text without the prefix.
func TestEveryRejectionMatchesErrBadPath(t *testing.T) {
	for _, err := range []error{ErrNotAbsolute, ErrInvalidEscape, ErrEncodedSeparator, ErrBackslash, ErrControl, ErrInvalidUTF8, ErrDotSegment, ErrEmptySegment, ErrDoubleEncoding, ErrPathParam} {
		if !errors.Is(err, ErrBadPath) {
			t.Errorf("%v does not match ErrBadPath", err)
		}
		if got, want := Reason(err), strings.TrimPrefix(err.Error(), "pathcanon: "); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
	if errors.Is(errors.New("pathcanon: invalid request path"), ErrBadPath) {
		t.Error("an unrelated error with the same text matches ErrBadPath")
	}
}
