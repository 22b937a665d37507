package validate

import (
	"net/http"
	"testing"
)

func TestNonCanonicalPathsRejected(t *testing.T) {
	post := func(target, body string) func() *http.Request {
		return func() *http.Request { return multi("POST", target, body, "Content-Type", "application/json") }
	}
	bad := `{"kind":"c"}` // fails the /upload rule's schema
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule applies", post("/upload", bad), 400, ""},
		{"trailing slash", post("/upload/", bad), 400, ""},
		{"double slash", post("//upload", bad), 400, ""},
		{"dot segment", post("/./upload", bad), 400, ""},
		{"dot-dot segment", post("/x/../upload", bad), 400, ""},
		{"encoded unreserved", post("/%75pload", bad), 400, ""},
		{"encoded dot segment", post("/%2e/upload", bad), 400, ""},
		{"path parameter", post("/upload;x=1", bad), 400, ""},
		{"encoded slash", post("/%2Fupload", bad), 400, ""},
		{"backslash", post(`/\upload`, bad), 400, ""},
		{"other path passes", post("/elsewhere", bad), 200, ""},
		// Paths are case-sensitive (RFC 3986 6.2.2.1): /Upload is another
		// resource, and a backend that folds case needs its own rule.
		{"case differs", post("/Upload", bad), 200, ""},
	})
	pass := Middleware(newShop(t, Config{PassThroughUnknown: true}))(&echo{})
	get := func(target string) func() *http.Request {
		return func() *http.Request { return multi("GET", target, "") }
	}
	runHard(t, pass, []hardCase{
		{"spec applies", get("/products?limit=500"), 400, "limit"},
		{"trailing slash", get("/products/?limit=500"), 400, "limit"},
		{"double slash", get("//products?limit=500"), 400, ""},
		{"dot segment", get("/./products?limit=500"), 400, ""},
		{"base path encoded", get("/v%31/products?limit=500"), 400, "limit"},
		{"semicolon in segment", get("/products;x=1?limit=500"), 400, ""},
		{"matrix parameter still works", get("/labels/;labelId=5"), 200, ""},
		{"unknown path passes", get("/elsewhere?limit=500"), 200, ""},
	})
}
