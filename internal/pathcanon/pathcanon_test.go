package pathcanon

import (
	"errors"
	"testing"
)

func TestReason(t *testing.T) {
	_, err := Path("/a/../b")
	if got := Reason(err); got != "dot-segment in path" {
		t.Errorf("Reason(%v) = %q", err, got)
	}
	if got := Reason(errors.New("route: something else")); got != "invalid request path" {
		t.Errorf("Reason(other) = %q", got)
	}
}
