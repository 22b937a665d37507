package h1frame_test

import (
	"fmt"

	"github.com/gatekit/gatekit/internal/h1frame"
)

// Example follows a chunked response that arrives in two reads with a
// stray byte after it: Feed reports how much belongs to the response, so
// the byte after its end is never taken for the next response.
func Example() {
	var f h1frame.Framer
	f.Start("GET")
	reads := []string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
		"lo\r\n0\r\n\r\nX",
	}
	for _, b := range reads {
		n, err := f.Feed([]byte(b))
		fmt.Println(n, len(b), f.Done(), err)
	}
	fmt.Println("status", f.Status())
	// Output:
	// 53 53 false <nil>
	// 9 10 true <nil>
	// status 200
}
