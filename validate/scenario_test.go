package validate

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	pid    = "8c4f2a0e-3b1d-4c5e-9f00-1a2b3c4d5e6f"
	oid    = "ord_abcdefghij"
	money  = `{"amount":12.5,"currency":"EUR"}`
	sig    = "sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	jsonCT = "application/json"
)

// opCase is one request against the shop spec, with the expected status
// and, for 400s, one field error that must be listed.
type opCase struct {
	op     string // operationId, to check every operation is covered
	name   string
	q      req
	status int
	in     string // expected FieldError.In ("" = not checked)
	field  string // expected FieldError.Name or Pointer
}

func shopCases() []opCase {
	product := `{"name":"Go book","price":` + money + `,"category":"books","tags":["go","dev"],"releaseDate":"2024-02-29"}`
	order := `{"customerId":7,"items":[{"productId":"` + pid + `","quantity":2}],"payment":{"method":"bank","iban":"NL91ABNA0417164300","amount":` + money + `}}`
	multipart := "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XB\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nA file\r\n--XB--\r\n"
	multipartNoFile := "--XB\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nA file\r\n--XB--\r\n"
	return []opCase{
		{op: "health", name: "ok", q: req{method: "GET", target: "/health", noKey: true}, status: 200},
		{op: "health", name: "query on op without params passes", q: req{method: "GET", target: "/health?x=1", noKey: true}, status: 200},
		{op: "health", name: "body not allowed", q: req{method: "GET", target: "/health", ct: jsonCT, body: `{}`, noKey: true}, status: 400, in: "body"},

		{op: "listProducts", name: "ok with base path", q: req{method: "GET", target: "/v1/products?limit=5&tags=a&tags=b&sort=price|-name&category=books"}, status: 200},
		{op: "listProducts", name: "ok staging base path", q: req{method: "GET", target: "/api/v1/products", header: map[string]string{"X-Request-Id": pid}}, status: 200},
		{op: "listProducts", name: "limit too big", q: req{method: "GET", target: "/products?limit=500"}, status: 400, in: "query", field: "limit"},
		{op: "listProducts", name: "limit not integer", q: req{method: "GET", target: "/products?limit=ten"}, status: 400, in: "query", field: "limit"},
		{op: "listProducts", name: "sort enum pipe", q: req{method: "GET", target: "/products?sort=price|bogus"}, status: 400, in: "query", field: "sort"},
		{op: "listProducts", name: "too many tags", q: req{method: "GET", target: "/products?tags=a&tags=b&tags=c&tags=d&tags=e&tags=f"}, status: 400, in: "query", field: "tags"},
		{op: "listProducts", name: "request id not uuid", q: req{method: "GET", target: "/products", header: map[string]string{"X-Request-Id": "nope"}}, status: 400, in: "header", field: "X-Request-Id"},
		{op: "listProducts", name: "malformed query", q: req{method: "GET", target: "/products?limit=%zz"}, status: 400, in: "query"},
		{op: "listProducts", name: "no api key", q: req{method: "GET", target: "/products", noKey: true}, status: 401, in: "security", field: "ApiKey"},
		{op: "listProducts", name: "wrong api key", q: req{method: "GET", target: "/products", noKey: true, header: map[string]string{"X-API-Key": "guess"}}, status: 401},
		{op: "listProducts", name: "forbidden key", q: req{method: "GET", target: "/products", noKey: true, header: map[string]string{"X-API-Key": "readonly"}}, status: 403},

		{op: "createProduct", name: "ok", q: req{method: "POST", target: "/products", ct: jsonCT, body: product}, status: 200},
		{op: "createProduct", name: "ok charset", q: req{method: "POST", target: "/products", ct: "application/json; charset=utf-8", body: product}, status: 200},
		{op: "createProduct", name: "missing price", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":"x","category":"books"}`}, status: 400, in: "body", field: "/price"},
		{op: "createProduct", name: "bad currency", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":"x","price":{"amount":1,"currency":"XXX"},"category":"books"}`}, status: 400, in: "body", field: "/price/currency"},
		{op: "createProduct", name: "duplicate tags", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":"x","price":` + money + `,"category":"books","tags":["a","a"]}`}, status: 400, in: "body", field: "/tags"},
		{op: "createProduct", name: "invalid date", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":"x","price":` + money + `,"category":"books","releaseDate":"2023-02-29"}`}, status: 400, in: "body", field: "/releaseDate"},
		{op: "createProduct", name: "wrong content type", q: req{method: "POST", target: "/products", ct: "text/plain", body: product}, status: 415},
		{op: "createProduct", name: "no content type", q: req{method: "POST", target: "/products", body: product}, status: 415},
		{op: "createProduct", name: "missing body", q: req{method: "POST", target: "/products", ct: jsonCT}, status: 400, in: "body"},
		{op: "createProduct", name: "malformed json", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":`}, status: 400, in: "body"},
		{op: "createProduct", name: "duplicate key", q: req{method: "POST", target: "/products", ct: jsonCT, body: `{"name":"x","name":"y","price":` + money + `,"category":"books"}`}, status: 400, in: "body", field: "/name"},

		{op: "getProduct", name: "ok", q: req{method: "GET", target: "/products/" + pid}, status: 200},
		{op: "getProduct", name: "not uuid", q: req{method: "GET", target: "/products/123"}, status: 400, in: "path", field: "productId"},
		{op: "getProduct", name: "HEAD validated as GET", q: req{method: "HEAD", target: "/products/123"}, status: 400, in: "path", field: "productId"},
		{op: "getProduct", name: "unknown method", q: req{method: "POST", target: "/products/" + pid}, status: 405},

		{op: "replaceProduct", name: "ok", q: req{method: "PUT", target: "/products/" + pid, ct: jsonCT, body: product}, status: 200},
		{op: "replaceProduct", name: "stock negative", q: req{method: "PUT", target: "/products/" + pid, ct: jsonCT, body: `{"name":"x","price":` + money + `,"category":"books","stock":-1}`}, status: 400, in: "body", field: "/stock"},

		{op: "patchProduct", name: "ok merge patch", q: req{method: "PATCH", target: "/products/" + pid, ct: "application/merge-patch+json", body: `{"name":"New"}`}, status: 200},
		{op: "patchProduct", name: "unknown property", q: req{method: "PATCH", target: "/products/" + pid, ct: "application/merge-patch+json", body: `{"colour":"red"}`}, status: 400, in: "body"},
		{op: "patchProduct", name: "empty object", q: req{method: "PATCH", target: "/products/" + pid, ct: "application/merge-patch+json", body: `{}`}, status: 400, in: "body"},

		{op: "deleteProduct", name: "ok", q: req{method: "DELETE", target: "/products/" + pid, header: map[string]string{"If-Match": `"0123abcd"`}}, status: 200},
		{op: "deleteProduct", name: "missing if-match", q: req{method: "DELETE", target: "/products/" + pid}, status: 400, in: "header", field: "If-Match"},
		{op: "deleteProduct", name: "bad if-match", q: req{method: "DELETE", target: "/products/" + pid, header: map[string]string{"If-Match": "*"}}, status: 400, in: "header", field: "If-Match"},

		{op: "listReviews", name: "ok", q: req{method: "GET", target: "/products/" + pid + "/reviews?minRating=4"}, status: 200},
		{op: "listReviews", name: "rating out of range", q: req{method: "GET", target: "/products/" + pid + "/reviews?minRating=6"}, status: 400, in: "query", field: "minRating"},

		{op: "createReview", name: "ok", q: req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: `{"rating":5,"title":"Great"}`}, status: 200},
		{op: "createReview", name: "rating string", q: req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: `{"rating":"5"}`}, status: 400, in: "body", field: "/rating"},
		{op: "createReview", name: "case variant key", q: req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: `{"rating":5,"Rating":1}`}, status: 400, in: "body", field: "/Rating"},

		{op: "getProductImage", name: "ok", q: req{method: "GET", target: "/products/" + pid + "/images/3.png"}, status: 200},
		{op: "getProductImage", name: "empty segment", q: req{method: "GET", target: "/products/" + pid + "/images/"}, status: 404},
		{op: "getProductImage", name: "no extension", q: req{method: "GET", target: "/products/" + pid + "/images/3"}, status: 404},
		{op: "getProductImage", name: "bad format", q: req{method: "GET", target: "/products/" + pid + "/images/3.gif"}, status: 400, in: "path", field: "format"},
		{op: "getProductImage", name: "bad image id", q: req{method: "GET", target: "/products/" + pid + "/images/0.png"}, status: 400, in: "path", field: "imageId"},

		{op: "uploadProductImage", name: "ok", q: req{method: "PUT", target: "/products/" + pid + "/image", ct: "application/octet-stream", body: "\x89PNG\r\n"}, status: 200},
		{op: "uploadProductImage", name: "json not accepted", q: req{method: "PUT", target: "/products/" + pid + "/image", ct: jsonCT, body: "{}"}, status: 415},

		{op: "listCategories", name: "ok without key", q: req{method: "GET", target: "/categories", noKey: true}, status: 200},
		{op: "listCategories", name: "wrong method", q: req{method: "DELETE", target: "/categories", noKey: true}, status: 405},

		{op: "getCategory", name: "ok", q: req{method: "GET", target: "/categories/home-garden", noKey: true}, status: 200},
		{op: "getCategory", name: "uppercase slug", q: req{method: "GET", target: "/categories/Home", noKey: true}, status: 400, in: "path", field: "slug"},

		{op: "listCustomers", name: "ok deepObject", q: req{method: "GET", target: "/customers?filter[country]=NL&filter[minOrders]=3&filter[vip]=true"}, status: 200},
		{op: "listCustomers", name: "deepObject bad int", q: req{method: "GET", target: "/customers?filter[minOrders]=x"}, status: 400, in: "query", field: "filter"},
		{op: "listCustomers", name: "deepObject bad country", q: req{method: "GET", target: "/customers?filter[country]=nl"}, status: 400, in: "query", field: "filter"},
		{op: "listCustomers", name: "deepObject huge index", q: req{method: "GET", target: "/customers?filter[items][50000000]=x"}, status: 400, in: "query", field: "filter"},

		{op: "createCustomer", name: "ok allOf", q: req{method: "POST", target: "/customers", ct: jsonCT, body: `{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","address":{"line1":"1 St","city":"London","country":"GB"}}`}, status: 200},
		{op: "createCustomer", name: "allOf member missing", q: req{method: "POST", target: "/customers", ct: jsonCT, body: `{"firstName":"Ada","email":"ada@example.com"}`}, status: 400, in: "body", field: "/lastName"},
		{op: "createCustomer", name: "bad email and nested country", q: req{method: "POST", target: "/customers", ct: jsonCT, body: `{"firstName":"Ada","lastName":"L","email":"not-an-email","address":{"line1":"1","city":"L","country":"gb"}}`}, status: 400, in: "body", field: "/address/country"},

		{op: "getCustomer", name: "ok", q: req{method: "GET", target: "/customers/42"}, status: 200},
		{op: "getCustomer", name: "zero id", q: req{method: "GET", target: "/customers/0"}, status: 400, in: "path", field: "customerId"},
		{op: "getCustomer", name: "not a number", q: req{method: "GET", target: "/customers/abc"}, status: 400, in: "path", field: "customerId"},

		{op: "setCustomerAddress", name: "ok", q: req{method: "PUT", target: "/customers/42/address", ct: jsonCT, body: `{"line1":"Main St 1","city":"Berlin","postcode":"10115","country":"DE"}`}, status: 200},
		{op: "setCustomerAddress", name: "missing city", q: req{method: "PUT", target: "/customers/42/address", ct: jsonCT, body: `{"line1":"Main St 1","country":"DE"}`}, status: 400, in: "body", field: "/city"},

		{op: "listCustomerOrders", name: "ok form no explode", q: req{method: "GET", target: "/customers/42/orders?status=paid,shipped&since=2024-01-31"}, status: 200},
		{op: "listCustomerOrders", name: "bad status", q: req{method: "GET", target: "/customers/42/orders?status=paid,lost"}, status: 400, in: "query", field: "status"},
		{op: "listCustomerOrders", name: "bad date", q: req{method: "GET", target: "/customers/42/orders?since=2024-13-01"}, status: 400, in: "query", field: "since"},

		{op: "createOrder", name: "ok oneOf bank", q: req{method: "POST", target: "/orders", ct: jsonCT, body: order, header: map[string]string{"Idempotency-Key": "key-12345"}}, status: 200},
		{op: "createOrder", name: "missing idempotency key", q: req{method: "POST", target: "/orders", ct: jsonCT, body: order}, status: 400, in: "header", field: "Idempotency-Key"},
		{op: "createOrder", name: "empty items", q: req{method: "POST", target: "/orders", ct: jsonCT, body: `{"customerId":7,"items":[]}`, header: map[string]string{"Idempotency-Key": "key-12345"}}, status: 400, in: "body", field: "/items"},
		{op: "createOrder", name: "item quantity", q: req{method: "POST", target: "/orders", ct: jsonCT, body: `{"customerId":7,"items":[{"productId":"` + pid + `","quantity":100}]}`, header: map[string]string{"Idempotency-Key": "key-12345"}}, status: 400, in: "body", field: "/items/0/quantity"},
		{op: "createOrder", name: "null coupon allowed", q: req{method: "POST", target: "/orders", ct: jsonCT, body: `{"customerId":7,"items":[{"productId":"` + pid + `","quantity":1}],"coupon":null}`, header: map[string]string{"Idempotency-Key": "key-12345"}}, status: 200},

		{op: "getOrder", name: "ok", q: req{method: "GET", target: "/orders/" + oid}, status: 200},
		{op: "getOrder", name: "bad id", q: req{method: "GET", target: "/orders/ORD_1"}, status: 400, in: "path", field: "orderId"},

		{op: "cancelOrder", name: "ok", q: req{method: "POST", target: "/orders/" + oid + "/cancel", ct: jsonCT, body: `{"reason":"fraud"}`}, status: 200},
		{op: "cancelOrder", name: "bad reason", q: req{method: "POST", target: "/orders/" + oid + "/cancel", ct: jsonCT, body: `{"reason":"bored"}`}, status: 400, in: "body", field: "/reason"},

		{op: "listOrderItems", name: "ok space delimited", q: req{method: "GET", target: "/orders/" + oid + "/items?lines=1%202%203"}, status: 200},
		{op: "listOrderItems", name: "not integers", q: req{method: "GET", target: "/orders/" + oid + "/items?lines=1%20x"}, status: 400, in: "query", field: "lines"},

		{op: "addPayment", name: "ok card", q: req{method: "POST", target: "/orders/" + oid + "/payments", ct: jsonCT, body: `{"method":"card","token":"tok_12345678","amount":` + money + `}`}, status: 200},
		{op: "addPayment", name: "discriminator branch errors", q: req{method: "POST", target: "/orders/" + oid + "/payments", ct: jsonCT, body: `{"method":"card","amount":` + money + `}`}, status: 400, in: "body", field: "/token"},
		{op: "addPayment", name: "matches no oneOf", q: req{method: "POST", target: "/orders/" + oid + "/payments", ct: jsonCT, body: `{"method":"card","iban":"x","amount":` + money + `}`}, status: 400, in: "body"},

		{op: "search", name: "ok", q: req{method: "GET", target: "/search?q=go&in=products|categories&price=9.99"}, status: 200},
		{op: "search", name: "missing q", q: req{method: "GET", target: "/search"}, status: 400, in: "query", field: "q"},
		{op: "search", name: "q too short and price zero", q: req{method: "GET", target: "/search?q=g&price=0"}, status: 400, in: "query", field: "price"},

		{op: "upload", name: "ok multipart", q: req{method: "POST", target: "/uploads", ct: "multipart/form-data; boundary=XB", body: multipart}, status: 200},
		{op: "upload", name: "multipart missing file", q: req{method: "POST", target: "/uploads", ct: "multipart/form-data; boundary=XB", body: multipartNoFile}, status: 400, in: "body"},
		{op: "upload", name: "malformed multipart", q: req{method: "POST", target: "/uploads", ct: "multipart/form-data; boundary=XB", body: "--XB\r\ngarbage"}, status: 400, in: "body"},

		{op: "contact", name: "ok form", q: req{method: "POST", target: "/contact", ct: "application/x-www-form-urlencoded", body: "email=a%40b.example&message=hi&copies=1", noKey: true}, status: 200},
		{op: "contact", name: "form bad copies", q: req{method: "POST", target: "/contact", ct: "application/x-www-form-urlencoded", body: "email=a%40b.example&message=hi&copies=9", noKey: true}, status: 400, in: "body"},

		{op: "getMonthlyReport", name: "ok", q: req{method: "GET", target: "/reports/2024/2", header: map[string]string{"Accept-Language": "fr"}}, status: 200},
		{op: "getMonthlyReport", name: "month and language", q: req{method: "GET", target: "/reports/2024/13", header: map[string]string{"Accept-Language": "xx"}}, status: 400, in: "path", field: "month"},

		{op: "getLabel", name: "ok matrix", q: req{method: "GET", target: "/labels/;labelId=5"}, status: 200},
		{op: "getLabel", name: "matrix zero", q: req{method: "GET", target: "/labels/;labelId=0"}, status: 400, in: "path", field: "labelId"},

		{op: "getVersion", name: "ok label", q: req{method: "GET", target: "/versions/.3", noKey: true}, status: 200},
		{op: "getVersion", name: "label not digits", q: req{method: "GET", target: "/versions/.x", noKey: true}, status: 400, in: "path", field: "version"},

		{op: "getSession", name: "ok cookies", q: req{method: "GET", target: "/session", noKey: true, header: map[string]string{"Cookie": "sid=abcdefghij0123456789; theme=dark"}}, status: 200},
		{op: "getSession", name: "missing cookie", q: req{method: "GET", target: "/session", noKey: true}, status: 400, in: "cookie", field: "sid"},
		{op: "getSession", name: "bad theme cookie", q: req{method: "GET", target: "/session", noKey: true, header: map[string]string{"Cookie": "sid=abcdefghij0123456789; theme=neon"}}, status: 400, in: "cookie", field: "theme"},

		{op: "testWebhook", name: "ok", q: req{method: "POST", target: "/webhooks/test", ct: jsonCT, body: `{"event":"order.paid","data":{"x":[1,2]}}`, header: map[string]string{"X-Signature": sig}}, status: 200},
		{op: "testWebhook", name: "bad signature header", q: req{method: "POST", target: "/webhooks/test", ct: jsonCT, body: `{"event":"order.paid"}`, header: map[string]string{"X-Signature": "md5=1"}}, status: 400, in: "header", field: "X-Signature"},

		{op: "getInventory", name: "ok", q: req{method: "GET", target: "/inventory/ABC-1234?includeHistory=true", header: map[string]string{"X-Warehouse": "ams"}}, status: 200},
		{op: "getInventory", name: "bad bool and sku", q: req{method: "GET", target: "/inventory/abc-12?includeHistory=maybe"}, status: 400, in: "query", field: "includeHistory"},

		{op: "batch", name: "ok", q: req{method: "POST", target: "/batch", ct: jsonCT, body: `[{"op":"delete","productId":"` + pid + `"},{"op":"price","productId":"` + pid + `","price":` + money + `}]`}, status: 200},
		{op: "batch", name: "too many", q: req{method: "POST", target: "/batch", ct: jsonCT, body: "[" + strings.Repeat(`{"op":"delete","productId":"`+pid+`"},`, 10) + `{"op":"delete","productId":"` + pid + `"}]`}, status: 400, in: "body"},
		{op: "batch", name: "not an array", q: req{method: "POST", target: "/batch", ct: jsonCT, body: `{"op":"delete"}`}, status: 400, in: "body"},

		{op: "getMe", name: "ok bearer", q: req{method: "GET", target: "/me", noKey: true, header: map[string]string{"Authorization": "Bearer good"}}, status: 200},
		{op: "getMe", name: "api key is not enough", q: req{method: "GET", target: "/me"}, status: 401, in: "security", field: "Bearer"},
		{op: "getMe", name: "bad token", q: req{method: "GET", target: "/me", noKey: true, header: map[string]string{"Authorization": "Bearer bad"}}, status: 401},

		{op: "", name: "unknown path", q: req{method: "GET", target: "/nope"}, status: 404},
		{op: "", name: "unknown nested path", q: req{method: "GET", target: "/products/" + pid + "/nope"}, status: 404},
	}
}

func TestShopOperationsAnswerTheirStatus(t *testing.T) {
	v := newShop(t, Config{})
	var handled int
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled++
		w.WriteHeader(http.StatusOK)
	}))
	for _, tc := range shopCases() {
		t.Run(tc.op+"/"+tc.name, func(t *testing.T) {
			before := handled
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.q.build())
			if rec.Code != tc.status {
				t.Fatalf("%s %s = %d, want %d; body %s", tc.q.method, tc.q.target, rec.Code, tc.status, rec.Body)
			}
			if tc.status == http.StatusOK {
				if handled != before+1 {
					t.Fatalf("next handler not called")
				}
				return
			}
			if handled != before {
				t.Fatalf("rejected request reached the next handler")
			}
			p := decodeProblem(t, rec)
			if p.Status != tc.status {
				t.Errorf("problem status = %d, want %d", p.Status, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if tc.status == http.StatusUnauthorized && tc.op == "getMe" && rec.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate = %q, want Bearer", rec.Header().Get("WWW-Authenticate"))
			}
			if tc.in == "" {
				return
			}
			for _, f := range p.Errors {
				if f.In == tc.in && (tc.field == "" || f.Name == tc.field || f.Pointer == tc.field) {
					return
				}
			}
			t.Errorf("errors %+v lack in=%q field=%q", p.Errors, tc.in, tc.field)
		})
	}
}

// TestEveryOperationCovered checks that the spec has at least 30 operations
// and that each has a valid and an invalid case.
func TestEveryOperationCovered(t *testing.T) {
	v := newShop(t, Config{})
	ok, bad := map[string]bool{}, map[string]bool{}
	for _, tc := range shopCases() {
		if tc.status == http.StatusOK {
			ok[tc.op] = true
		} else {
			bad[tc.op] = true
		}
	}
	n := 0
	for _, item := range v.doc.Paths.Map() {
		for _, op := range item.Operations() {
			n++
			if !ok[op.OperationID] || !bad[op.OperationID] {
				t.Errorf("operation %s: valid case %v, invalid case %v", op.OperationID, ok[op.OperationID], bad[op.OperationID])
			}
		}
	}
	if n < 30 {
		t.Errorf("spec has %d operations, want at least 30", n)
	}
}

// TestJSONBombsBoundedAllocation sends JSON bombs (deep nesting,
// huge strings, many keys, long numbers) through the middleware: each gets 400 (or 413), never reaches the
// backend, and allocates at most 4 × body size + 1 MiB.
func TestJSONBombsBoundedAllocation(t *testing.T) {
	v := newShop(t, Config{MaxBodyBytes: 2 << 20})
	bombs := map[string]string{
		"depth 10000":         strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
		"1 MiB of [":          strings.Repeat("[", 1<<20),
		"1M-element array":    `{"rating":1,"text":[` + strings.Repeat("0,", 1<<20) + `0]}`,
		"100k keys":           "{" + manyKeys(100000) + "}",
		"1 MB string":         `{"rating":1,"text":"` + strings.Repeat("x", 1<<20+10) + `"}`,
		"1e400":               `{"rating":1e400}`,
		"duplicate":           `{"rating":1,"rating":5}`,
		"case variant":        `{"rating":1,"RATING":5}`,
		"invalid UTF-8":       "{\"rating\":1,\"text\":\"\xff\xfe\"}",
		"lone surrogate":      `{"rating":1,"text":"\udfff"}`,
		"over the body limit": strings.Repeat(" ", 3<<20),
	}
	for name, body := range bombs {
		t.Run(name, func(t *testing.T) {
			e := &echo{}
			h := Middleware(v)(e)
			r := req{method: "POST", target: "/products/" + pid + "/reviews", ct: jsonCT, body: body}.build()
			rec := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, r)
			runtime.ReadMemStats(&after)
			if rec.Code != 400 && rec.Code != 413 {
				t.Fatalf("status %d, want 400 or 413", rec.Code)
			}
			if e.calls != 0 {
				t.Fatal("reached the backend")
			}
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(body)+1<<20); got > limit {
				t.Errorf("allocated %d bytes, limit %d", got, limit)
			}
		})
	}
}

// TestConcurrentValidation runs the table cases from many goroutines on one
// Validator (run with -race).
func TestConcurrentValidation(t *testing.T) {
	v := newShop(t, Config{})
	h := Middleware(v)(&nopHandler{})
	cases := shopCases()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cases {
				tc := cases[(i+g)%len(cases)]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, tc.q.build())
				if rec.Code != tc.status {
					t.Errorf("%s/%s: status %d, want %d", tc.op, tc.name, rec.Code, tc.status)
				}
			}
		}()
	}
	wg.Wait()
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }

// TestBehindReverseProxy runs the middleware in front of an
// httputil.ReverseProxy over real connections: the backend receives the
// exact bytes with a matching Content-Length, and rejected requests never
// reach it.
func TestBehindReverseProxy(t *testing.T) {
	var mu sync.Mutex
	var got []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" cl="+r.Header.Get("Content-Length")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }}
	gw := httptest.NewServer(Middleware(newShop(t, Config{}))(proxy))
	defer gw.Close()

	send := func(path, body string) int {
		r, _ := http.NewRequest("POST", gw.URL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", jsonCT)
		r.Header.Set("X-API-Key", "secret")
		resp, err := gw.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := "{\"rating\": 4,\n \"title\":\"ok\"}"
	if code := send("/v1/products/"+pid+"/reviews", body); code != http.StatusCreated {
		t.Fatalf("valid request: status %d", code)
	}
	if code := send("/v1/products/"+pid+"/reviews", `{"rating": 9}`); code != http.StatusBadRequest {
		t.Fatalf("invalid request: status %d", code)
	}
	gw.Client().CloseIdleConnections()
	mu.Lock()
	defer mu.Unlock()
	want := "POST /v1/products/" + pid + "/reviews cl=" + strconv.Itoa(len(body)) + " " + body
	if len(got) != 1 || got[0] != want {
		t.Fatalf("backend saw %q, want [%q]", got, want)
	}
}
