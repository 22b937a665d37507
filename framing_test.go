package gatekit

import (
	"net"
	"strings"
	"testing"
)

// smuggle is a request that a hop framing by Content-Length reads as one
// request and net/http, framing by Transfer-Encoding, as two.
const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

func TestFramingTrackerFindsAmbiguousHeads(t *testing.T) {
	ok := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		in   string
		bad  int    // 1-based index of the ambiguous request, 0 for none
		rest string // what must not be passed on
	}{
		{"plain requests", ok + "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + ok, 0, ""},
		{"chunked body then request", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n" + ok, 0, ""},
		{"leading empty lines", "\r\n\r\n" + ok, 0, ""},
		{"stray CRs after a POST", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\r\r" + "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 2, smuggled},
		{"LF CR after a POST", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\n\r" + "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 2, smuggled},
		{"CL then TE", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 1, "0\r\n\r\n" + smuggled},
		{"TE then CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + smuggled, 1, smuggled},
		{"TE with two spaces", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding:  chunked\r\n\r\n" + smuggled, 1, smuggled},
		{"TE with a tab", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding:\tchunked\r\n\r\n" + smuggled, 1, smuggled},
		{"bare LF", "POST / HTTP/1.1\nContent-Length: 5\nTransfer-Encoding: chunked\n\n" + smuggled, 1, smuggled},
		{"CL in an obs-fold", "GET / HTTP/1.1\r\nX-A: 1\r\n Content-Length: 40\r\n\r\n" + smuggled, 1, smuggled},
		{"TE in an obs-fold", "POST / HTTP/1.1\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + smuggled, 1, smuggled},
		{"HTTP/1.2 as 1.1", "POST / HTTP/1.2\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 1, smuggled},
		{"HTTP/1.0 with TE", "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 1, smuggled},
		{"second request ambiguous", ok + "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 2, smuggled},
		{"TLS record", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ""},
		{"CL body hides a head", "POST / HTTP/1.1\r\nContent-Length: 66\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{len(tc.in), 1, 7} {
				var tr framingTracker
				passed, bad := "", 0
				for i := 0; i < len(tc.in) && bad == 0; i += step {
					chunk := tc.in[i:min(i+step, len(tc.in))]
					cut, b := tr.feed([]byte(chunk), false)
					passed += chunk[:cut]
					bad = b
				}
				if bad != tc.bad {
					t.Fatalf("step %d: bad = %d, want %d", step, bad, tc.bad)
				}
				if bad > 0 && passed != strings.TrimSuffix(tc.in, tc.rest) {
					t.Fatalf("step %d: passed on %q, want everything before %q", step, passed, tc.rest)
				}
			}
			var tr framingTracker
			if cut, b := tr.feed([]byte(tc.in), true); b != 0 || cut != len(tc.in) {
				t.Errorf("allowed: feed = %d, %d; want everything passed", cut, b)
			}
		})
	}
}

// FuzzFramingTracker checks that the tracker never panics, never passes on
// bytes after an ambiguous head, and decides the same however the bytes
// are split into reads.
func FuzzFramingTracker(f *testing.F) {
	f.Add("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"+smuggled, uint8(3))
	f.Add("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\nTransfer-Encoding: x\r\n\r\n", uint8(1))
	f.Add("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", uint8(5))
	f.Fuzz(func(t *testing.T, in string, step uint8) {
		whole := func(s int) (string, int) {
			var tr framingTracker
			passed := ""
			for i := 0; i < len(in); i += s {
				chunk := in[i:min(i+s, len(in))]
				cut, b := tr.feed([]byte(chunk), false)
				if cut < 0 || cut > len(chunk) {
					t.Fatalf("cut %d outside a %d-byte read", cut, len(chunk))
				}
				passed += chunk[:cut]
				if b > 0 {
					return passed, b
				}
			}
			return passed, 0
		}
		p1, b1 := whole(len(in) + 1)
		p2, b2 := whole(int(step%16) + 1)
		if p1 != p2 || b1 != b2 {
			t.Fatalf("one read: %q bad %d; reads of %d: %q bad %d", p1, b1, step%16+1, p2, b2)
		}
		if b1 > 0 && !strings.HasSuffix(p1, "\n") {
			t.Fatalf("stopped at %q, not at the end of a head", p1)
		}
	})
}

func BenchmarkFramingTracker(b *testing.B) {
	req := []byte("POST /api/orders HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"tier\":\"gold\"}\n")
	var tr framingTracker
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if _, bad := tr.feed(req, false); bad != 0 {
			b.Fatal("ambiguous")
		}
	}
}

// BenchmarkServerConnRead is a Server connection's Read of one GET request
// as a client sends it: the tracker and its bookkeeping around the read.
func BenchmarkServerConnRead(b *testing.B) {
	req := []byte("GET /hello HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	c := &serverConn{Conn: &repeatConn{p: req}}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if n, err := c.Read(buf); n != len(req) || err != nil {
			b.Fatalf("Read = %d, %v", n, err)
		}
	}
}

// repeatConn is a connection whose every Read returns p.
type repeatConn struct {
	net.Conn // nil: only Read is called
	p        []byte
}

func (c *repeatConn) Read(b []byte) (int, error) { return copy(b, c.p), nil }

func TestFramingTrackerStopsAtAnOverlongChunkedBodyLine(t *testing.T) {
	tr := framingTracker{limit: 64}
	head := "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
	trailer := "X-T: " + strings.Repeat("a", 100) + "\r\n\r\n"
	in := head + trailer + "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled
	cut, bad := tr.feed([]byte(in), false)
	if bad != -1 || cut != len(head) {
		t.Errorf("feed = %d, %d; want the connection stopped at the overlong trailer (%d, -1)", cut, bad, len(head))
	}
	tr = framingTracker{limit: 64}
	long := "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\n\r\n"
	if cut, bad := tr.feed([]byte(long), false); bad != 0 || cut != len(long) || tr.state != stSilent {
		t.Errorf("overlong head: feed = %d, %d state %d; want it passed on for net/http to refuse, and silence", cut, bad, tr.state)
	}
}

// A long header line that arrives in pieces is held only while it lasts:
// an idle keep-alive connection keeps no large buffer afterwards.
func TestFramingTrackerReleasesALongLineOnceItEnds(t *testing.T) {
	var tr framingTracker
	line := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 100<<10)
	for _, p := range []string{line[:len(line)/2], line[len(line)/2:], "\r\n\r\n"} {
		if cut, bad := tr.feed([]byte(p), false); bad != 0 || cut != len(p) {
			t.Fatalf("feed = %d, %d; want everything passed", cut, bad)
		}
	}
	if tr.state != stHead || tr.heads != 1 {
		t.Fatalf("state %d after %d heads, want the next request line after one", tr.state, tr.heads)
	}
	if c := cap(tr.line); c > maxKeptLine {
		t.Errorf("tracker keeps a %d-byte line buffer, want at most %d", c, maxKeptLine)
	}
}
