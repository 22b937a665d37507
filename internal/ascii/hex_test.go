package ascii

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
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

// FuzzWellFormedQuery: WellFormedQuery accepts a query exactly when
// url.ParseQuery does (with fewer parameters than its limit).
func FuzzWellFormedQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=%41", "a=%4", "a=%zz&b", "a;b", "%", "a=1%", "x=%e2%82%ac", "%%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if strings.Count(q, "&") > 1000 {
			return
		}
		_, err := url.ParseQuery(q)
		if got := WellFormedQuery(q); got != (err == nil) {
			t.Fatalf("WellFormedQuery(%q) = %v, url.ParseQuery error %v", q, got, err)
		}
	})
}
