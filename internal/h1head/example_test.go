package h1head_test

import (
	"fmt"

	"github.com/gatekit/gatekit/internal/h1head"
)

// A response head's field lines, checked and then parsed from one copy.
func Example() {
	buf := []byte("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: close\r\n\r\nok")
	from := len("HTTP/1.1 200 OK\r\n")
	fields, end, ok := h1head.Scan(buf, from)
	if !ok {
		fmt.Println("not plain: leave it to net/http")
		return
	}
	h, seen := h1head.Fields(string(buf[from:end]), fields)
	n, _ := h1head.ContentLength(h)
	fmt.Println(fields, n, seen&h1head.SeenConnection != 0, h1head.Close(1, h))
	// Output: 2 2 true true
}
