package validate

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// strictDuplicates reports whether JSON text b has an object with two keys
// equal under strings.EqualFold, using encoding/json's tokenizer as an
// independent reference.
func strictDuplicates(b []byte) bool {
	d := json.NewDecoder(strings.NewReader(string(b)))
	type frame struct {
		obj    bool
		keys   []string
		expect bool // next string token is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.obj && top.expect
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &frame{obj: v == '{', expect: v == '{'})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].obj {
					stack[len(stack)-1].expect = true
				}
			}
			continue
		case string:
			if isKey {
				for _, k := range top.keys {
					if strings.EqualFold(k, v) {
						return true
					}
				}
				top.keys = append(top.keys, v)
				top.expect = false
				continue
			}
		}
		if top != nil && top.obj {
			top.expect = true
		}
	}
}

// FuzzJSONValidate: accepted input decodes with encoding/json to the same
// value and has no duplicate or case-variant keys; rejection for duplicates
// is confirmed by the reference.
func FuzzJSONValidate(f *testing.F) {
	for _, s := range []string{
		`{"role":"user","items":[1,2,3]}`, `{"role":"user","role":"admin"}`, `{"role":"user","ROLE":"admin"}`,
		`[[[[[]]]]]`, `"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `1e400`, `-0.5E-3`, `{"a":{"b":[null,true,false]}}`,
		`{"K":1,"\u212a":2}`, ` [1 , 2 ] `, `{"a":1}x`, `01`,
	} {
		f.Add([]byte(s))
	}
	lim := JSONLimits{MaxDepth: 16, MaxMembers: 64, MaxStringBytes: 256}
	in := newInterned()
	for _, s := range []string{"role", "user", "admin", "items", "a", "K"} {
		in.addKey(s)
		in.addVal(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseJSON(b, lim)
		if err != nil {
			var je *jsonError
			if !errors.As(err, &je) || len(je.reason) > 200 {
				t.Fatalf("unexpected error %v", err)
			}
			if strings.HasPrefix(je.reason, "duplicate key") && !strictDuplicates(b) {
				t.Fatalf("rejected %q for duplicates the reference does not see", b)
			}
			return
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatalf("accepted %q, encoding/json rejects it: %v", b, err)
		}
		if _, err := d.Token(); err != io.EOF {
			t.Fatalf("accepted %q with trailing data", b)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("parseJSON(%q) = %#v, encoding/json = %#v", b, v, want)
		}
		if vi, err := parseJSONInterned(b, lim, in); err != nil || !reflect.DeepEqual(vi, want) {
			t.Fatalf("interned parse of %q = %#v, %v; want %#v", b, vi, err, want)
		}
		if strictDuplicates(b) {
			t.Fatalf("accepted %q with duplicate keys", b)
		}
	})
}

// FuzzBody posts random bodies to JSON, form and multipart operations. The
// validator must not panic, answers only 200/400/413/415, forwards exactly
// the bytes sent, and kin-openapi's own pipeline accepts what it accepts.
func FuzzBody(f *testing.F) {
	f.Add(uint8(0), []byte(`{"customerId":7,"items":[{"productId":"`+pid+`","quantity":2}]}`))
	f.Add(uint8(0), []byte(`{"customerId":7,"items":[],"payment":{"method":"card"}}`))
	f.Add(uint8(1), []byte(`{"rating":5,"title":"x"}`))
	f.Add(uint8(1), []byte(`{"rating":5,"RATING":1}`))
	f.Add(uint8(2), []byte(`[{"op":"delete","productId":"`+pid+`"}]`))
	f.Add(uint8(3), []byte("email=a%40b.example&message=hi&copies=2"))
	f.Add(uint8(4), []byte("--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n--XB--\r\n"))
	f.Add(uint8(4), []byte("--XB\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n"))
	targets := []struct{ path, ct string }{
		{"/orders", jsonCT},
		{"/products/" + pid + "/reviews", jsonCT},
		{"/batch", jsonCT},
		{"/contact", "application/x-www-form-urlencoded"},
		{"/uploads", "multipart/form-data; boundary=XB"},
	}
	v := newShop(f, Config{MaxBodyBytes: 4096, JSON: JSONLimits{MaxDepth: 16, MaxMembers: 100}})
	ref := newKinRef(f, false)
	runs := 0
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := targets[int(which)%len(targets)]
		e := &echo{}
		q := req{method: "POST", target: tg.path, ct: tg.ct, body: string(body), header: map[string]string{"Idempotency-Key": "fuzz-key-1"}}
		rec := httptest.NewRecorder()
		h, r := Middleware(v)(e), q.build()
		// Every 8th input (and every seed) is measured: allocation stays
		// within the S15 budget, 4 x body + 1 MiB. ReadMemStats stops the
		// world, too slow for every input.
		if runs++; runs%8 == 1 || runs <= 16 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, r)
			runtime.ReadMemStats(&after)
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(body)+1<<20); got > limit {
				t.Fatalf("allocated %d bytes for a %d-byte body to %s, limit %d", got, len(body), tg.path, limit)
			}
		} else {
			h.ServeHTTP(rec, r)
		}
		switch rec.Code {
		case 200:
			if string(e.body) != string(body) {
				t.Fatalf("backend got %q, client sent %q", e.body, body)
			}
			if err := ref.validate(q.build(), body); err != nil {
				t.Fatalf("accepted %s %q, kin-openapi rejects it: %v", tg.path, body, err)
			}
		case 400, 413, 415:
			if e.calls != 0 {
				t.Fatalf("rejected request reached the backend")
			}
			decodeProblem(t, rec)
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzQuery sends random query strings (deepObject, delimited arrays,
// enums) and header values. Invariants as FuzzBody.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"filter[country]=NL&filter[minOrders]=3", "filter[items][50000000]=x", "filter[a][b][c]=1&filter=2",
		"limit=5&tags=a&tags=b&sort=price|-name", "q=go&in=products|customers&price=1e3", "lines=1%202%203",
		"status=paid,shipped&since=2024-02-29", "%zz=1", "limit=1e2", "price=NaN", "includeHistory=TRUE",
	} {
		f.Add(uint8(0), s)
	}
	paths := []string{"/customers", "/products", "/search", "/orders/" + oid + "/items", "/customers/42/orders", "/inventory/ABC-1234"}
	v := newShop(f, Config{})
	ref := newKinRef(f, false)
	f.Fuzz(func(t *testing.T, which uint8, query string) {
		if strings.ContainsAny(query, " #\x00\r\n\t") || len(query) > 2048 {
			return // not a valid request target
		}
		target := paths[int(which)%len(paths)] + "?" + query
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		q := req{method: "GET", target: target}
		e := &echo{}
		rec := httptest.NewRecorder()
		Middleware(v)(e).ServeHTTP(rec, q.build())
		switch rec.Code {
		case 200:
			if err := ref.validate(q.build(), nil); err != nil {
				t.Fatalf("accepted %q, kin-openapi rejects it: %v", target, err)
			}
		case 400:
			if e.calls != 0 {
				t.Fatalf("rejected request reached the backend")
			}
			decodeProblem(t, rec)
		default:
			t.Fatalf("status %d for %q", rec.Code, target)
		}
	})
}

var _ http.Handler = (*echo)(nil)
