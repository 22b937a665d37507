package proxy

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// parseWritten writes req with writeRequest and parses the bytes back
// with net/http's server-side parser.
func parseWritten(t testing.TB, req *http.Request) (*http.Request, []byte, error) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := writeRequest(bw, req); err != nil {
		return nil, nil, err
	}
	bw.Flush()
	raw := buf.Bytes()
	got, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("written request does not parse: %v\n%q", err, raw)
	}
	return got, raw, nil
}

func newOutbound(method, target, body string) *http.Request {
	u, _ := url.Parse(target)
	r := &http.Request{Method: method, URL: u, Header: http.Header{}, Host: ""}
	if body != "" {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return r
}

func TestWriteRequestAsRequestWriteDoes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     func() *http.Request
		want    string // substrings of the written request, in order
		notWant string
	}{
		{"GET with query", func() *http.Request { return newOutbound("GET", "http://b:81/p%20q?x=1", "") },
			"GET /p%20q?x=1 HTTP/1.1\r\nHost: b:81\r\nUser-Agent: Go-http-client/1.1\r\n", "Content-Length"},
		{"empty User-Agent sends none", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["User-Agent"] = []string{""}
			return r
		}, "GET / HTTP/1.1\r\nHost: b\r\n", "User-Agent"},
		{"POST with body", func() *http.Request { return newOutbound("POST", "http://b/", "hello") },
			"POST / HTTP/1.1\r\nHost: b\r\n\x00Content-Length: 5\r\n\x00\r\nhello", ""},
		{"empty POST gets Content-Length 0", func() *http.Request { return newOutbound("POST", "http://b/", "") },
			"Content-Length: 0\r\n", ""},
		{"empty DELETE gets none", func() *http.Request { return newOutbound("DELETE", "http://b/", "") },
			"DELETE / HTTP/1.1\r\n", "Content-Length"},
		{"Close asks for Connection: close", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Close = true
			return r
		}, "Connection: close\r\n", ""},
		{"explicit Host wins, zone removed", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Host = "[fe80::1%25en0]:8080"
			r.Host, _ = url.PathUnescape(r.Host)
			return r
		}, "Host: [fe80::1]:8080\r\n", "%"},
		{"header values trimmed, framing headers never copied", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X-A"] = []string{" v1 ", "v2"}
			r.Header["Content-Length"] = []string{"99"}
			r.Header["Transfer-Encoding"] = []string{"chunked"}
			r.Header["Host"] = []string{"evil"}
			return r
		}, "X-A: v1\r\n\x00X-A: v2\r\n", "99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			_, raw, err := parseWritten(t, req)
			if err != nil {
				t.Fatal(err)
			}
			rest := string(raw)
			for _, part := range strings.Split(tc.want, "\x00") {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Fatalf("%q not in %q", part, raw)
				}
				rest = rest[i+len(part):]
			}
			if tc.notWant != "" && strings.Contains(string(raw), tc.notWant) {
				t.Fatalf("%q in %q", tc.notWant, raw)
			}
			if strings.Contains(string(raw), "evil") || strings.Contains(string(raw), "chunked") {
				t.Fatalf("a framing header was copied: %q", raw)
			}
		})
	}
}

func TestWriteRequestRefusesWhatCouldSplitIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"CRLF in a value", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X-A"] = []string{"v\r\nX-Injected: 1"}
			return r
		}},
		{"LF alone in a value", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X-A"] = []string{"v\nGET / HTTP/1.1"}
			return r
		}},
		{"NUL in a value", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X-A"] = []string{"v\x00"}
			return r
		}},
		{"space in a name", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X A"] = []string{"v"}
			return r
		}},
		{"colon in a name", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Header["X:A"] = []string{"v"}
			return r
		}},
		{"CRLF in Host", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Host = "b\r\nX-Injected: 1"
			return r
		}},
		{"space in Host", func() *http.Request {
			r := newOutbound("GET", "http://b/", "")
			r.Host = "b x"
			return r
		}},
		{"space in the method", func() *http.Request { return newOutbound("GET /x", "http://b/", "") }},
		{"body longer than announced", func() *http.Request {
			r := newOutbound("POST", "http://b/", "hello")
			r.ContentLength = 2
			return r
		}},
		{"body shorter than announced", func() *http.Request {
			r := newOutbound("POST", "http://b/", "hello")
			r.ContentLength = 9
			return r
		}},
		{"length without a body", func() *http.Request {
			r := newOutbound("POST", "http://b/", "")
			r.ContentLength = 9
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, raw, err := parseWritten(t, tc.req()); err == nil {
				t.Fatalf("written: %q", raw)
			}
		})
	}
}

// FuzzWriteRequest: whatever header names and values, method and path a
// request carries, writeRequest either refuses it or writes exactly one
// request that parses back with the same method, target, host, headers
// (trimmed) and body, and nothing after it.
func FuzzWriteRequest(f *testing.F) {
	f.Add("GET", "/a?b=c", "X-A", " v ", "")
	f.Add("POST", "/", "X-B", "v\r\nX-C: 1", "body")
	f.Add("PUT", "/%20", "Bad Name", "v", "x")
	f.Add("GET", "/", "X-D", "a\x00b", "")
	f.Fuzz(func(t *testing.T, method, path, name, value, body string) {
		req := newOutbound(method, "http://b", body)
		req.URL.Path = path
		req.Header[name] = []string{value}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if err := writeRequest(bw, req); err != nil {
			return
		}
		bw.Flush()
		br := bufio.NewReader(&buf)
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("written request does not parse: %v\n%q", err, buf.Bytes())
		}
		gotBody, _ := io.ReadAll(got.Body)
		if want := cmp.Or(method, "GET"); got.Method != want || got.RequestURI != req.URL.RequestURI() || got.Host != "b" || string(gotBody) != body {
			t.Fatalf("parsed %s %s host %q body %q", got.Method, got.RequestURI, got.Host, gotBody)
		}
		if br.Buffered() != 0 {
			t.Fatalf("bytes after the request: %q", buf.Bytes())
		}
		switch http.CanonicalHeaderKey(name) {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			return
		}
		if name == http.CanonicalHeaderKey(name) && got.Header.Get(name) != strings.Trim(value, " \t") {
			t.Fatalf("header %q = %q, want %q", name, got.Header.Get(name), strings.Trim(value, " \t"))
		}
	})
}

// BenchmarkWriteRequest writes a typical proxied GET (a dozen headers,
// the gateway's forwarding headers among them).
func BenchmarkWriteRequest(b *testing.B) {
	req := newOutbound("GET", "http://10.0.0.1:8080/api/v1/items?page=2", "")
	for k, v := range map[string]string{
		"Accept": "application/json", "Accept-Encoding": "gzip, br", "Accept-Language": "en-GB,en;q=0.9",
		"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz0123456789", "Cookie": "session=0123456789abcdef",
		"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "X-Request-Id": "4bf92f3577b34da6a3ce929d0e0e4736",
		"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https",
		"X-Real-Ip": "203.0.113.7", "Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	} {
		req.Header.Set(k, v)
	}
	bw := bufio.NewWriterSize(io.Discard, 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		if err := writeRequest(bw, req); err != nil {
			b.Fatal(err)
		}
		bw.Flush()
	}
}
