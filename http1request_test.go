package gatekit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/net/http/httpguts"
)

// requestCases are request streams for the differential tests: plain heads
// readHTTP1Request parses itself, and every shape it leaves to
// http.ReadRequest, each followed by bytes of a next request.
var requestCases = []struct {
	name  string
	in    string
	plain bool // parsed by readHTTP1Request itself when buffered whole
}{
	{"small", "GET /hello HTTP/1.1\r\nHost: example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\nGET /next HTTP/1.1\r\n", true},
	{"query", "GET /a/b%20c?x=1&y=%2F#frag HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"no host", "GET / HTTP/1.1\r\n\r\n", true},
	{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", true},
	{"http/1.0", "GET / HTTP/1.0\r\n\r\n", true},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
	{"close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", true},
	{"connection token trap", "GET / HTTP/1.1\r\nHost: h\r\nConnection: clos\u017f\r\n\r\n", true},
	{"zero length", "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nNEXT", true},
	{"zero length twice over", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 00\r\n\r\n", true},
	{"extension method", "PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"lower-case names", "GET / HTTP/1.1\r\nhost: h\r\nx-FOO-bar: v\r\ncontent-type:text/plain\r\n\r\n", true},
	{"repeated fields", "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX: 1\r\nCookie: b=2\r\n\r\n", true},
	{"value whitespace", "GET / HTTP/1.1\r\nHost:  \th \t\r\nX:\r\n\r\n", true},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n", true},
	{"pragma", "GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n", true},
	{"double slash", "GET //evil.example/x HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"dot segments", "GET /a/../b/./c HTTP/1.1\r\nHost: h\r\n\r\n", true},
	{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"expect", "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", true},
	{"upgrade", "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true},

	{"body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcNEXT", false},
	{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
	{"chunked and length", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", false},
	{"empty length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", false},
	{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -0\r\n\r\n", false},
	{"absolute form", "GET http://example.com/x HTTP/1.1\r\nHost: other\r\n\r\n", false},
	{"authority form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", false},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"http/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", false},
	{"http/2 version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", false},
	{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", false},
	{"three parts and more", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", false},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"no version", "GET /\r\nHost: h\r\n\r\n", false},
	{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"control in target", "GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"cr in target", "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", false},
	{"folded line", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", false},
	{"control byte", "GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n", false},
	{"bare lf", "GET / HTTP/1.1\nHost: h\n\n", false},
	{"bare lf blank", "GET / HTTP/1.1\r\nHost: h\r\n\nX: y\r\n\r\n", false},
	{"partial head", "GET / HTTP/1.1\r\nHost: h\r\nAcc", false},
	{"empty", "", false},
}

func TestReadHTTP1RequestMatchesNetHTTP(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			compareReadRequest(t, []byte(tc.in), nil)
			compareReadRequest(t, []byte(tc.in), iotest.OneByteReader)
			compareReadRequest(t, []byte(tc.in), iotest.HalfReader)
		})
	}
}

// TestReadHTTP1RequestParsesPlainHeads checks that the plain cases are
// parsed by parsePlainRequest itself (so that the differential test above
// compares two parsers, not http.ReadRequest with itself), and the others
// not.
func TestReadHTTP1RequestParsesPlainHeads(t *testing.T) {
	for _, tc := range requestCases {
		_, n := parsePlainRequest([]byte(tc.in))
		if got := n > 0; got != tc.plain {
			t.Errorf("%s: parsed as plain %v, want %v", tc.name, got, tc.plain)
		}
	}
}

// compareReadRequest reads in, through wrap if not nil, with
// http.ReadRequest and with readHTTP1Request, and fails on any difference
// in the requests, their bodies and trailers, and the bytes left after
// them.
func compareReadRequest(t *testing.T, in []byte, wrap func(io.Reader) io.Reader) {
	t.Helper()
	read := func(f func(*bufio.Reader) (*http.Request, error)) (*http.Request, string, *bufio.Reader) {
		var src io.Reader = bytes.NewReader(in)
		if wrap != nil {
			src = wrap(src)
		}
		br := bufio.NewReaderSize(src, 4096)
		br.Peek(1) // as the server loop does before it reads a request
		req, err := f(br)
		if err != nil {
			return nil, "error: " + err.Error(), br
		}
		body, err := io.ReadAll(req.Body)
		tail := fmt.Sprintf("noBody=%v body %q err %v trailer %#v", req.Body == http.NoBody, body, err, req.Trailer)
		req.Body = nil
		return req, tail, br
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "request")
	want, wtail, wbr := read(func(br *bufio.Reader) (*http.Request, error) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return nil, err
		}
		// What the loop makes of it: a Trailer map for the body to
		// fill (in the copy WithContext makes), and its context.
		if req.Trailer == nil && len(req.TransferEncoding) > 0 {
			req.Trailer = make(http.Header)
		}
		return req.WithContext(ctx), nil
	})
	got, gtail, gbr := read(func(br *bufio.Reader) (*http.Request, error) {
		req, plain, err := readHTTP1Request(ctx, br)
		if plain {
			// What the server checks after http.ReadRequest holds.
			for k, vv := range req.Header {
				if !httpguts.ValidHeaderFieldName(k) {
					t.Fatalf("input %q: plain head with field name %q", in, k)
				}
				for _, v := range vv {
					if !httpguts.ValidHeaderFieldValue(v) {
						t.Fatalf("input %q: plain head with field value %q", in, v)
					}
				}
			}
		}
		return req, err
	})
	if gtail != wtail || !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q:\n got: %s %#v\nwant: %s %#v", in, gtail, got, wtail, want)
	}
	if want != nil && !reflect.DeepEqual(*got.URL, *want.URL) {
		t.Fatalf("input %q: URL %#v, want %#v", in, *got.URL, *want.URL)
	}
	wrest, _ := io.ReadAll(wbr)
	grest, _ := io.ReadAll(gbr)
	if !bytes.Equal(wrest, grest) {
		t.Fatalf("input %q: left %q, want %q", in, grest, wrest)
	}
}

type ctxKey struct{}

// FuzzReadHTTP1Request checks readHTTP1Request against http.ReadRequest
// on any stream: the same request, body, trailers and bytes left after it,
// or the same error. The input is read whole from the buffer, one byte at
// a time, or in halves.
func FuzzReadHTTP1Request(f *testing.F) {
	for _, tc := range requestCases {
		f.Add([]byte(tc.in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		var wrap func(io.Reader) io.Reader
		switch mode % 3 {
		case 1:
			wrap = iotest.OneByteReader
		case 2:
			wrap = iotest.HalfReader
		}
		compareReadRequest(t, in, wrap)
	})
}

// BenchmarkReadHTTP1Request reads a typical request head with
// readHTTP1Request and with http.ReadRequest; host-only is a head whose
// only field is Host, as wrk and many API clients send.
func BenchmarkReadHTTP1Request(b *testing.B) {
	const typical = "GET /api/v1/items?limit=10 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: application/json\r\nAccept-Encoding: gzip\r\nX-Request-Id: 5f2c9a\r\n\r\n"
	gatekit := func(br *bufio.Reader) (*http.Request, error) {
		req, _, err := readHTTP1Request(context.Background(), br)
		return req, err
	}
	for _, bc := range []struct {
		name, head string
		read       func(*bufio.Reader) (*http.Request, error)
	}{
		{"host-only", "GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", gatekit},
		{"gatekit", typical, gatekit},
		{"net-http", typical, http.ReadRequest},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := strings.NewReader(bc.head)
			br := bufio.NewReaderSize(src, 4096)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(bc.head)
				br.Reset(src)
				br.Peek(1)
				if _, err := bc.read(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzOriginForm: where originForm takes a target, its URL is the one
// url.ParseRequestURI makes of it.
func FuzzOriginForm(f *testing.F) {
	for _, s := range []string{"/", "/hello", "/a/b?c=d&e", "/a?", "/a??", "/a?b?c", "/%41", "/a!b", "/a#b", "/a?b#c", "//x/y", "/a;b=c,d:e@f$g&h+i", "*", "http://h/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got, ok := originForm(target)
		if !ok {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("originForm(%q) = %#v, ParseRequestURI refuses it: %v", target, got, err)
		}
		if *got != *want {
			t.Fatalf("originForm(%q) = %#v, want %#v", target, got, want)
		}
	})
}
