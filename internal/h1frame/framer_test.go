package h1frame

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"

func TestFramer(t *testing.T) {
	cases := []struct {
		name   string
		method string
		resp   string // one response
		extra  string // bytes after it
		opaque bool
		bad    bool
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", evil, false, false},
		{"zero length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", evil, false, false},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n", evil, false, false},
		{"chunked with trailer", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\n\r\n", evil, false, false},
		{"TE wins over CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", evil, false, false},
		{"HEAD has no body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", evil, false, false},
		{"204 has no body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "hello", false, false},
		{"304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n", evil, false, false},
		{"interim 100 then 200", "POST", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"bare LF headers", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", evil, false, false},
		{"HTTP/1.0 ignores TE", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"duplicate equal CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", evil, false, false},
		{"101 is a tunnel", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "frames", true, false},
		{"no length: until close", "GET", "HTTP/1.1 200 OK\r\n\r\n", "anything", true, false},
		{"two different CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "", false, true},
		{"gzip, chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "", false, true},
		{"two TE lines", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "", false, true},
		{"bare LF chunk line", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n", "", false, true},
		{"bad chunk size", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", false, true},
		{"bad CL", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n", "", false, true},
		{"not HTTP", "GET", "SSH-2.0-OpenSSH\r\n", "", false, true},
		{"header line over 1 MiB", "GET", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n", "", false, true},
		{"header line of 1 MiB", "GET", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 1<<20-4) + "\r\nContent-Length: 0\r\n\r\n", evil, false, false},
	}
	for _, tc := range cases {
		for _, step := range []int{0, 1, 3} { // 0: all at once
			t.Run(fmt.Sprintf("%s/step%d", tc.name, step), func(t *testing.T) {
				in := []byte(tc.resp + tc.extra)
				var f Framer
				f.Start(tc.method)
				used, err := feedSteps(&f, in, step)
				if tc.bad {
					if err == nil {
						t.Fatalf("framer accepted %q", tc.resp)
					}
					return
				}
				if err != nil {
					t.Fatalf("framer error %v", err)
				}
				if !f.Done() || f.Opaque() != tc.opaque {
					t.Fatalf("done=%v opaque=%v, want done, opaque=%v", f.Done(), f.Opaque(), tc.opaque)
				}
				if !tc.opaque && used != len(tc.resp) {
					t.Fatalf("response ends at %d, want %d", used, len(tc.resp))
				}
			})
		}
	}
}

// feedSteps feeds in to f in pieces of step bytes (all at once for 0) and
// returns the bytes used until the response ended.
func feedSteps(f *Framer, in []byte, step int) (int, error) {
	if step == 0 {
		step = len(in)
	}
	used := 0
	for used < len(in) && !f.Done() {
		end := min(used+step, len(in))
		k, err := f.Feed(in[used:end])
		used += k
		if err != nil {
			return used, err
		}
		if f.Opaque() {
			break
		}
	}
	return used, nil
}

// FuzzFramer checks the framer against net/http's own reading of a
// response: when both accept it and it has a known end, they must agree
// on where it ends (or a guard could mistake a body for extra bytes, or
// the reverse). It also checks that the verdict does not depend on how
// the bytes are split into reads.
func FuzzFramer(f *testing.F) {
	f.Add("GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"+evil)
	f.Add("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nA: b\r\n\r\n"+evil)
	f.Add("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")
	f.Add("GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nxx")
	f.Add("GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nab")
	f.Add("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n")
	f.Fuzz(func(t *testing.T, method, raw string) {
		if method != "HEAD" {
			method = "GET"
		}
		var fr Framer
		fr.Start(method)
		used, ferr := feedSteps(&fr, []byte(raw), 7)
		var whole Framer
		whole.Start(method)
		wUsed, werr := feedSteps(&whole, []byte(raw), 0)
		if (ferr == nil) != (werr == nil) || ferr == nil && (used != wUsed || fr.Done() != whole.Done() || fr.Opaque() != whole.Opaque()) {
			t.Fatalf("in 7-byte reads: %d, %v, done=%v opaque=%v; in one read: %d, %v, done=%v opaque=%v: %q",
				used, ferr, fr.Done(), fr.Opaque(), wUsed, werr, whole.Done(), whole.Opaque(), raw)
		}
		goUsed, goOK := netHTTPConsumed(method, raw)
		if ferr != nil || !fr.Done() || fr.Opaque() || !goOK {
			return
		}
		if used != goUsed {
			t.Fatalf("framer ends the response at %d, net/http at %d: %q", used, goUsed, raw)
		}
	})
}

// netHTTPConsumed reads one final response from raw as the Transport
// does (skipping 1xx) and returns the bytes consumed; ok is false if
// net/http rejects it or its end is the connection's end.
func netHTTPConsumed(method, raw string) (int, bool) {
	r := strings.NewReader(raw)
	br := bufio.NewReader(r)
	req, _ := http.NewRequest(method, "http://x/", nil)
	for range 5 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return 0, false
		}
		if resp.StatusCode == 101 {
			return 0, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		if resp.Close || (resp.ContentLength < 0 && len(resp.TransferEncoding) == 0) {
			return 0, false
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, false
		}
		return len(raw) - r.Len() - br.Buffered(), true
	}
	return 0, false
}

// BenchmarkFramer measures the framing of one response, as bytes arrive in one read.
func BenchmarkFramer(b *testing.B) {
	body := strings.Repeat("x", 1024)
	for _, tc := range []struct{ name, resp string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 1024\r\n\r\n" + body},
		{"chunked", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + body + "\r\n0\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(tc.resp)
			var f Framer
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				f.Start("GET")
				if n, err := f.Feed(in); err != nil || n != len(in) || !f.Done() {
					b.Fatalf("feed = %d, %v", n, err)
				}
			}
		})
	}
}
