package reqkey_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gatekit/gatekit/reqkey"
)

func Example() {
	perClientRoute := reqkey.Join(reqkey.ClientIP, reqkey.Route)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("%q\n", perClientRoute(r))
	})
	for _, path := range []string{"/items/1", "/items/2"} {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = "192.0.2.7:4000"
		mux.ServeHTTP(httptest.NewRecorder(), r)
	}
	// Output:
	// "192.0.2.7\x00GET /items/{id}"
	// "192.0.2.7\x00GET /items/{id}"
}

func ExampleParse() {
	key, err := reqkey.Parse("header:X-Tenant")
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Tenant", "acme")
	fmt.Println(key(r))
	_, err = reqkey.Parse("uri")
	fmt.Println(err)
	// Output:
	// acme
	// reqkey: unknown key "uri" (want ip, path, route, global, apikey[:HEADER], header:NAME, cookie:NAME or query:NAME)
}
