package ascii

import (
	"fmt"
	"strconv"
	"testing"
)

func TestHex(t *testing.T) {
	for c := 0; c < 256; c++ {
		v, err := strconv.ParseUint(string(rune(c)), 16, 8)
		if got := IsHex(byte(c)); got != (err == nil) {
			t.Errorf("IsHex(%q) = %v", rune(c), got)
		}
		if err == nil && Unhex(byte(c)) != byte(v) {
			t.Errorf("Unhex(%q) = %d, want %d", rune(c), Unhex(byte(c)), v)
		}
	}
}

// ExampleUnhex decodes the escape %2F.
func ExampleUnhex() {
	e := "%2F"
	if IsHex(e[1]) && IsHex(e[2]) {
		fmt.Printf("%q\n", Unhex(e[1])<<4|Unhex(e[2]))
	}
	// Output: '/'
}
