package clientip_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/gatekit/gatekit/clientip"
)

func ExampleMiddleware() {
	res, err := clientip.New(clientip.Config{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		panic(err)
	}
	h := clientip.Middleware(res)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(clientip.FromRequest(r))
	}))

	// From a trusted proxy: the first untrusted hop from the right.
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.5:4000"
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 203.0.113.7")
	h.ServeHTTP(httptest.NewRecorder(), req)

	// From anyone else: the socket peer, whatever the header says.
	req.RemoteAddr = "198.51.100.2:4000"
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// 203.0.113.7
	// 198.51.100.2
}

func ExampleAggregate() {
	fmt.Println(clientip.Aggregate(netip.MustParseAddr("2001:db8:1:2:aaaa::1")))
	fmt.Println(clientip.Aggregate(netip.MustParseAddr("192.0.2.1")))
	// Output:
	// 2001:db8:1:2::
	// 192.0.2.1
}
