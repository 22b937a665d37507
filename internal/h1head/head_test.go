package h1head

import (
	"bufio"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	cases := []struct {
		in     string
		fields int
		ok     bool
	}{
		{"\r\n", 0, true},
		{"A: 1\r\nB-C:2\r\n\r\nbody", 2, true},
		{"X:\r\nY: \t\r\n\r\n", 2, true},
		{"X: caf\xe9\r\n\r\n", 1, true},
		{"A: 1\r\n", 0, false},            // no blank line yet
		{"A: 1\r\nB", 0, false},           // cut mid-line
		{"A: 1\n\r\n", 0, false},          // bare LF
		{"A: 1\r\n\n", 0, false},          // bare LF blank line
		{" A: 1\r\n\r\n", 0, false},       // leading space
		{"A: 1\r\n\tb\r\n\r\n", 0, false}, // folded
		{"A : 1\r\n\r\n", 0, false},       // space before the colon
		{"A 1\r\n\r\n", 0, false},         // no colon
		{": 1\r\n\r\n", 0, false},         // empty name
		{"A\x80: 1\r\n\r\n", 0, false},    // non-token name byte
		{"A: 1\x00\r\n\r\n", 0, false},    // NUL
		{"A: 1\r2\r\n\r\n", 0, false},     // CR inside a value
		{"A: \x7f\r\n\r\n", 0, false},     // DEL
		{"A: \x1b[0m\r\n\r\n", 0, false},  // escape
	}
	for _, tc := range cases {
		fields, end, ok := Scan([]byte(tc.in), 0)
		if ok != tc.ok || fields != tc.fields {
			t.Errorf("Scan(%q) = %d, %v, want %d, %v", tc.in, fields, ok, tc.fields, tc.ok)
		}
		if ok && tc.in[end:end+2] != "\r\n" {
			t.Errorf("Scan(%q): end %d is not at the blank line", tc.in, end)
		}
	}
}

// TestFieldsMatchesTextproto compares Fields with
// textproto.Reader.ReadMIMEHeader on plain heads.
func TestFieldsMatchesTextproto(t *testing.T) {
	for _, in := range []string{
		"\r\n",
		"Host: a\r\nhost: b\r\nX-FOO-bar: 1\r\nx-foo-BAR:  2 \t\r\nContent-type:text/plain\r\n\r\n",
		"Set-Cookie: a=1\r\nX: y\r\nSet-Cookie: b=2\r\n\r\n",
		"Weird_Name~: v\r\nfoo-: w\r\n-bar: x\r\nA--b: z\r\n\r\n",
		"Empty:\r\nTabs:\t\tv\t\r\n\r\n",
	} {
		compareFields(t, in)
	}
}

func compareFields(t *testing.T, in string) {
	t.Helper()
	fields, end, ok := Scan([]byte(in), 0)
	if !ok {
		return
	}
	want, err := textproto.NewReader(bufio.NewReader(strings.NewReader(in))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%q: plain for Scan, refused by textproto: %v", in, err)
	}
	got, seen := Fields(in[:end], fields)
	if !reflect.DeepEqual(map[string][]string(got), map[string][]string(want)) {
		t.Fatalf("Fields(%q) = %#v, want %#v", in, got, want)
	}
	for name, bit := range map[string]Seen{"Transfer-Encoding": SeenTransferEncoding, "Pragma": SeenPragma,
		"Connection": SeenConnection, "Host": SeenHost, "Content-Length": SeenContentLength} {
		if _, has := got[name]; has != (seen&bit != 0) {
			t.Fatalf("Fields(%q): seen %b, has %s %v", in, seen, name, has)
		}
	}
	// RequestFields: the same, with the Host values apart.
	rh, host, rseen := RequestFields(in[:end], fields)
	wantHost := want["Host"]
	delete(want, "Host")
	if !reflect.DeepEqual(map[string][]string(rh), map[string][]string(want)) || !slices.Equal(host, wantHost) || rseen != seen {
		t.Fatalf("RequestFields(%q) = %#v, host %q, seen %b; want %#v, %q, %b", in, rh, host, rseen, want, wantHost, seen)
	}
}

// FuzzFields checks Fields against textproto.Reader.ReadMIMEHeader on every
// head Scan takes as plain.
func FuzzFields(f *testing.F) {
	f.Add("Host: a\r\nhost: b\r\nPragma: no-cache\r\n\r\n")
	f.Add("Transfer-Encoding: chunked\r\nconnection: close\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) { compareFields(t, in) })
}

func TestFixPragma(t *testing.T) {
	cases := []struct{ in, want http.Header }{
		{http.Header{"Pragma": {"no-cache"}}, http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"no-cache"}}},
		{http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=1"}}, http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=1"}}},
		{http.Header{"Pragma": {"No-Cache"}}, http.Header{"Pragma": {"No-Cache"}}},
		{http.Header{"Pragma": {"x", "no-cache"}}, http.Header{"Pragma": {"x", "no-cache"}}},
	}
	for _, tc := range cases {
		h := tc.in.Clone()
		FixPragma(h)
		if !reflect.DeepEqual(h, tc.want) {
			t.Errorf("FixPragma(%v) = %v, want %v", tc.in, h, tc.want)
		}
	}
}

func TestClose(t *testing.T) {
	cases := []struct {
		minor int
		conn  []string
		want  bool
	}{
		{1, nil, false},
		{1, []string{"keep-alive"}, false},
		{1, []string{"Keep-Alive, CLOSE"}, true},
		{1, []string{"x", " close "}, true},
		{1, []string{"clos\u017f"}, false}, // not folded to "close" as Unicode would
		{1, []string{"closed"}, false},
		{0, nil, true},
		{0, []string{"keep-alive"}, false},
		{0, []string{"Keep-Alive", "close"}, true},
	}
	for _, tc := range cases {
		if got := Close(tc.minor, http.Header{"Connection": tc.conn}); got != tc.want {
			t.Errorf("Close(1.%d, %q) = %v, want %v", tc.minor, tc.conn, got, tc.want)
		}
	}
}

func TestContentLength(t *testing.T) {
	cases := []struct {
		cl []string
		n  int64
		ok bool
	}{
		{nil, -1, true},
		{[]string{"0"}, 0, true},
		{[]string{"00012"}, 12, true},
		{[]string{"9223372036854775807"}, 1<<63 - 1, true},
		{[]string{"9223372036854775808"}, 0, false},
		{[]string{""}, 0, false},
		{[]string{"+1"}, 0, false},
		{[]string{"1_0"}, 0, false},
		{[]string{"0x10"}, 0, false},
		{[]string{"1", "1"}, 0, false},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.cl != nil {
			h["Content-Length"] = tc.cl
		}
		if n, ok := ContentLength(h); n != tc.n || ok != tc.ok {
			t.Errorf("ContentLength(%q) = %d, %v, want %d, %v", tc.cl, n, ok, tc.n, tc.ok)
		}
	}
}

// BenchmarkFields parses the field lines of a typical request head.
func BenchmarkFields(b *testing.B) {
	const head = "Host: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\n" +
		"Accept-Encoding: gzip\r\nX-Request-Id: 5f2c9a\r\n\r\n"
	buf := []byte(head)
	b.ReportAllocs()
	for b.Loop() {
		fields, end, ok := Scan(buf, 0)
		if !ok {
			b.Fatal("not plain")
		}
		Fields(string(buf[:end]), fields)
	}
}

// TestFinishAgreesWithItsParts: Finish, which skips the lookups Fields
// says are needless, answers as FixPragma and Close do on every head.
func TestFinishAgreesWithItsParts(t *testing.T) {
	for _, in := range []string{
		"A: b\r\n",
		"Pragma: no-cache\r\n",
		"Pragma: no-cache\r\nCache-Control: max-age=1\r\n",
		"Connection: close\r\n",
		"connection: keep-alive\r\n",
		"Pragma: no-cache\r\nConnection: x, close\r\n",
	} {
		for _, minor := range []int{0, 1} {
			h, seen := Fields(in, strings.Count(in, "\n"))
			want := h.Clone()
			FixPragma(want)
			wantClose := Close(minor, want)
			if got := Finish(h, seen, minor); got != wantClose || !reflect.DeepEqual(h, want) {
				t.Errorf("Finish(%q, 1.%d) = %v, %v, want %v, %v", in, minor, got, h, wantClose, want)
			}
		}
	}
}
