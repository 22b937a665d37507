package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// responseCases are response streams for the differential tests: plain
// heads readResponse parses itself, and every shape it leaves to
// http.ReadResponse, each followed by bytes of a next response.
var responseCases = []struct {
	name  string
	in    string
	plain bool // parsed by readResponse itself when buffered whole
}{
	{"small", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nokNEXT", true},
	{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", true},
	{"empty reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\nNEXT", true},
	{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabcNEXT", true},
	{"http/1.0 close", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", true},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 1\r\n\r\nx", true},
	{"connection other", "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 1\r\n\r\nx", true},
	{"connection token trap", "HTTP/1.1 200 OK\r\nConnection: clos\u017f\r\nContent-Length: 1\r\n\r\nx", true},
	{"no fields 204", "HTTP/1.1 204 No Content\r\n\r\nNEXT", true},
	{"304 with length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"a\"\r\n\r\nNEXT", true},
	{"zero length", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\nNEXT", true},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true},
	{"repeated fields", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: 1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n", true},
	{"lower-case names", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-FOO-bar: v\r\ncontent-type:text/plain\r\n\r\nok", true},
	{"value whitespace", "HTTP/1.1 200 OK\r\nX:  \t a b \t \r\nY:\r\nContent-Length: 1\r\n\r\nz", true},
	{"obs-text value", "HTTP/1.1 200 OK\r\nX: caf\xe9\r\nContent-Length: 1\r\n\r\nz", true},
	{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 1\r\n\r\nz", true},
	{"pragma and cache-control", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nCache-Control: max-age=5\r\nContent-Length: 1\r\n\r\nz", true},
	{"trailer without chunking", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 1\r\n\r\nz", true},
	{"odd status", "HTTP/1.1 999 Whatever\r\nContent-Length: 1\r\n\r\nz", true},
	{"reason with cr", "HTTP/1.1 200 O\rK\r\nContent-Length: 1\r\n\r\nz", true},
	{"large length", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nzz", true},

	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n2\r\nok\r\n0\r\nX: 1\r\n\r\nNEXT", false},
	{"chunked and length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
	{"close delimited", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", false},
	{"length beyond the stream", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nNEXT", true},
	{"interim", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"duplicate lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
	{"differing lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false},
	{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", false},
	{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
	{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\nok", false},
	{"folded line", "HTTP/1.1 200 OK\r\nX: a\r\n  b\r\nContent-Length: 0\r\n\r\n", false},
	{"leading space line", "HTTP/1.1 200 OK\r\n X: a\r\nContent-Length: 0\r\n\r\n", false},
	{"space before colon", "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n", false},
	{"no colon", "HTTP/1.1 200 OK\r\nX a\r\nContent-Length: 0\r\n\r\n", false},
	{"empty name", "HTTP/1.1 200 OK\r\n: a\r\nContent-Length: 0\r\n\r\n", false},
	{"control byte", "HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n", false},
	{"bare lf field", "HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n", false},
	{"bare lf status", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", false},
	{"bare lf blank", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\nNEXT\r\n\r\n", false},
	{"http/2 version", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"http/1.2", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"two spaces", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"long code", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"tab after code", "HTTP/1.1 200\tOK\r\nContent-Length: 0\r\n\r\n", false},
	{"junk", "hello\r\n\r\n", false},
	{"empty", "", false},
	{"partial head", "HTTP/1.1 200 OK\r\nContent-Len", false},
}

func TestReadResponseMatchesNetHTTP(t *testing.T) {
	for _, tc := range responseCases {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				compareReadResponse(t, []byte(tc.in), method, nil)
				compareReadResponse(t, []byte(tc.in), method, iotest.OneByteReader)
				compareReadResponse(t, []byte(tc.in), method, iotest.HalfReader)
			})
		}
	}
}

// TestReadResponseParsesPlainHeads checks that the plain cases are parsed
// by readResponse itself (so that the differential test above compares
// two parsers, not http.ReadResponse with itself), and the others not.
func TestReadResponseParsesPlainHeads(t *testing.T) {
	for _, tc := range responseCases {
		req, _ := http.NewRequest("GET", "http://target/", nil)
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 4096)
		br.Peek(1)
		buf, _ := br.Peek(br.Buffered())
		n := parsePlainResponse(buf, req, br, new(plainResponse))
		if got := n > 0; got != tc.plain {
			t.Errorf("%s: parsed as plain %v, want %v", tc.name, got, tc.plain)
		}
		if tc.plain {
			req.Method = "HEAD"
			if n := parsePlainResponse(buf, req, br, new(plainResponse)); n > 0 {
				t.Errorf("%s: a response to HEAD was parsed as plain", tc.name)
			}
		}
	}
}

// TestReadResponseFirstReadError checks the errors of a stream that ends
// or fails before its first byte, which readResponse reports itself.
func TestReadResponseFirstReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, src := range []func() io.Reader{
		func() io.Reader { return strings.NewReader("") },
		func() io.Reader { return iotest.ErrReader(boom) },
	} {
		_, want := http.ReadResponse(bufio.NewReader(src()), nil)
		_, got := readResponse(bufio.NewReader(src()), nil, new(plainResponse))
		if got != want {
			t.Errorf("first read error: got %v, want %v", got, want)
		}
	}
}

func TestLengthBody(t *testing.T) {
	// The last byte comes with io.EOF; reads after the end keep
	// returning it; an early end is io.ErrUnexpectedEOF.
	b := &lengthBody{br: bufio.NewReader(strings.NewReader("abcdef")), n: 3}
	p := make([]byte, 8)
	if n, err := b.Read(p); n != 3 || err != io.EOF || string(p[:3]) != "abc" {
		t.Fatalf("Read = %d, %v (%q), want 3, EOF", n, err, p[:n])
	}
	if n, err := b.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v", n, err)
	}
	b = &lengthBody{br: bufio.NewReader(strings.NewReader("ab")), n: 3}
	if got, err := io.ReadAll(b); string(got) != "ab" || err != io.ErrUnexpectedEOF {
		t.Fatalf("short body: %q, %v", got, err)
	}
	b = &lengthBody{br: bufio.NewReader(strings.NewReader("abc")), n: 3}
	if n, err := b.Read(p[:0]); n != 0 || err != nil {
		t.Fatalf("empty Read = %d, %v", n, err)
	}
	b.Close()
	if n, err := b.Read(p); n != 0 || err != http.ErrBodyReadAfterClose {
		t.Fatalf("Read after Close = %d, %v, want http.ErrBodyReadAfterClose", n, err)
	}
}

// compareReadResponse reads in, through wrap if not nil, with
// http.ReadResponse and with readResponse, and fails on any difference in
// the responses, their bodies, trailers, and the bytes left after them.
func compareReadResponse(t *testing.T, in []byte, method string, wrap func(io.Reader) io.Reader) {
	t.Helper()
	read := func(f func(*bufio.Reader, *http.Request) (*http.Response, error)) (string, *bufio.Reader) {
		var src io.Reader = bytes.NewReader(in)
		if wrap != nil {
			src = wrap(src)
		}
		br := bufio.NewReaderSize(src, 4096)
		req := &http.Request{Method: method}
		resp, err := f(br, req)
		if err != nil {
			return "error: " + err.Error(), br
		}
		if resp.Request != req {
			return "the response does not carry its request", br
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "%q %d %q %d.%d close=%v cl=%d te=%q noBody=%v\n", resp.Status, resp.StatusCode, resp.Proto,
			resp.ProtoMajor, resp.ProtoMinor, resp.Close, resp.ContentLength, resp.TransferEncoding, resp.Body == http.NoBody)
		fmt.Fprintf(&sb, "header %s\ntrailer before %s\n", dumpHeader(resp.Header), dumpHeader(resp.Trailer))
		body, err := io.ReadAll(resp.Body)
		fmt.Fprintf(&sb, "body %q err %v\ntrailer after %s\n", body, err, dumpHeader(resp.Trailer))
		return sb.String(), br
	}
	want, wbr := read(http.ReadResponse)
	got, gbr := read(readPlain)
	if got != want {
		t.Fatalf("input %q (%s):\n got: %s\nwant: %s", in, method, got, want)
	}
	wrest, _ := io.ReadAll(wbr)
	grest, _ := io.ReadAll(gbr)
	if !bytes.Equal(wrest, grest) {
		t.Fatalf("input %q (%s): left %q, want %q", in, method, grest, wrest)
	}
}

// readPlain is readResponse with storage of its own, for the tests and
// benchmarks that hold it beside http.ReadResponse.
func readPlain(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	return readResponse(br, req, new(plainResponse))
}

// dumpHeader prints h with its keys in order, telling nil from empty.
func dumpHeader(h http.Header) string {
	if h == nil {
		return "nil"
	}
	var b strings.Builder
	b.WriteString("{")
	for _, k := range slices.Sorted(maps.Keys(h)) {
		fmt.Fprintf(&b, "%q:%#v ", k, h[k])
	}
	b.WriteString("}")
	return b.String()
}

// FuzzReadResponse checks readResponse against http.ReadResponse on any
// stream: the same response, body, trailers and bytes left after it, or
// the same error. The input is read whole from the buffer, one byte at a
// time, or in halves, to a GET or a HEAD.
func FuzzReadResponse(f *testing.F) {
	for _, tc := range responseCases {
		f.Add([]byte(tc.in), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		method := "GET"
		if mode&4 != 0 {
			method = "HEAD"
		}
		var wrap func(io.Reader) io.Reader
		switch mode & 3 {
		case 1:
			wrap = iotest.OneByteReader
		case 2:
			wrap = iotest.HalfReader
		}
		compareReadResponse(t, in, method, wrap)
	})
}

// BenchmarkReadResponse reads a typical small response head and body with
// readResponse and with http.ReadResponse.
func BenchmarkReadResponse(b *testing.B) {
	const resp = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 GMT\r\nContent-Length: 64\r\n\r\n" +
		"0123456789012345678901234567890123456789012345678901234567890123"
	for _, bc := range []struct {
		name string
		read func(*bufio.Reader, *http.Request) (*http.Response, error)
	}{{"gatekit", readPlain}, {"net-http", http.ReadResponse}} {
		b.Run(bc.name, func(b *testing.B) {
			src := strings.NewReader(resp)
			br := bufio.NewReaderSize(src, 4096)
			req := &http.Request{Method: "GET"}
			buf := make([]byte, 128)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(resp)
				br.Reset(src)
				r, err := bc.read(br, req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := r.Body.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}
