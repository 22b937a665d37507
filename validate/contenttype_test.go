package validate

import (
	"net/http"
	"testing"
)

func TestJSONCharset(t *testing.T) {
	product := `{"name":"Go book","price":{"amount":12.5,"currency":"EUR"},"category":"books"}`
	post := func(target, ct, body string) func() *http.Request {
		return func() *http.Request { return multi("POST", target, body, "Content-Type", ct) }
	}
	spec := Middleware(newShop(t, Config{}))(&echo{})
	runHard(t, spec, []hardCase{
		{"no charset", post("/products", "application/json", product), 200, ""},
		{"utf-8", post("/products", "application/json; charset=utf-8", product), 200, ""},
		{"UTF-8 quoted", post("/products", `application/json;charset="UTF-8"`, product), 200, ""},
		{"utf-7", post("/products", "application/json; charset=utf-7", product), 415, ""},
		{"latin1", post("/products", "application/json; charset=iso-8859-1", product), 415, ""},
		{"utf-16 merge-patch", func() *http.Request {
			return multi("PATCH", "/products/"+pid, `{"name":"x"}`, "Content-Type", "application/merge-patch+json; charset=utf-16")
		}, 415, ""},
		{"charset twice", post("/products", "application/json; charset=utf-8; charset=utf-7", product), 415, ""},
	})
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule utf-8", post("/upload", "application/json; charset=utf-8", `{"name":"a"}`), 200, ""},
		{"rule utf-7", post("/upload", "application/json; charset=utf-7", `{"name":"a"}`), 415, ""},
	})
}

func TestSingleContentType(t *testing.T) {
	product := `{"name":"Go book","price":{"amount":12.5,"currency":"EUR"},"category":"books"}`
	post := func(target, body string, cts ...string) func() *http.Request {
		var kv []string
		for _, ct := range cts {
			kv = append(kv, "Content-Type", ct)
		}
		return func() *http.Request { return multi("POST", target, body, kv...) }
	}
	spec := Middleware(newShop(t, Config{}))(&echo{})
	runHard(t, spec, []hardCase{
		{"one", post("/products", product, "application/json"), 200, ""},
		{"two lines", post("/products", product, "application/json", "text/plain"), 415, ""},
		{"two equal lines", post("/products", product, "application/json", "application/json"), 415, ""},
		{"comma list", post("/products", product, "application/json, text/plain"), 415, ""},
		{"comma in quoted parameter", post("/products", product, `application/json; x="a,b"`), 200, ""},
		{"two lines without body", func() *http.Request {
			return multi("GET", "/products", "", "Content-Type", "a/b", "Content-Type", "c/d")
		}, 200, ""},
	})
	rules := Middleware(rulesValidator(t, Config{}))(&echo{})
	runHard(t, rules, []hardCase{
		{"rule one", func() *http.Request { return multi("PUT", "/files/a", "x", "Content-Type", "text/plain") }, 200, ""},
		{"rule two lines", func() *http.Request {
			return multi("PUT", "/files/a", "x", "Content-Type", "text/plain", "Content-Type", "application/x-evil")
		}, 415, ""},
	})
}
