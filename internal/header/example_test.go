package header_test

import (
	"fmt"

	"github.com/gatekit/gatekit/internal/header"
)

// IsToken accepts what may stand as a field name, method or cookie name,
// and refuses separators, spaces and the empty string.
func ExampleIsToken() {
	for _, s := range []string{"X-Request-ID", "session_id", "Bad Name", "a:b", ""} {
		fmt.Printf("%q %v\n", s, header.IsToken(s))
	}
	// Output:
	// "X-Request-ID" true
	// "session_id" true
	// "Bad Name" false
	// "a:b" false
	// "" false
}

func ExampleHasToken() {
	fmt.Println(header.HasToken([]string{"keep-alive, Upgrade"}, "upgrade"))
	fmt.Println(header.HopByHop("Keep-Alive"), header.HopByHop("Content-Type"))
	// Output:
	// true
	// true false
}
