package pathcanon_test

import (
	"fmt"

	"github.com/gatekit/gatekit/pathcanon"
)

func ExamplePath() {
	for _, p := range []string{"/%61pi/v1/%7euser", "/api/%2e%2e/admin", "/api/..;/admin", "/a%2fb"} {
		c, err := pathcanon.Path(p)
		fmt.Printf("%q %q %v\n", p, c, err)
	}
	// Output:
	// "/%61pi/v1/%7euser" "/api/v1/~user" <nil>
	// "/api/%2e%2e/admin" "" pathcanon: dot-segment in path
	// "/api/..;/admin" "" pathcanon: dot-segment in path
	// "/a%2fb" "" pathcanon: encoded path separator
}

func ExampleOptions_Canonical() {
	o := pathcanon.Options{CaseInsensitive: true, Params: pathcanon.StripParams}
	for _, p := range []string{"/API/Users", "/api;v=1/users", "/store;jsessionid=x/Pets/0"} {
		c, err := o.Canonical(p)
		fmt.Println(c, err)
	}
	// Output:
	// /api/users <nil>
	// /api/users <nil>
	// /store/pets/0 <nil>
}

func ExampleHost() {
	fmt.Println(pathcanon.Host("API.Example.COM.:8443"))
	// Output: api.example.com
}
