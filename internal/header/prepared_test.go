package header

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestAppendFieldWritesWhatNetHTTPWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"A", []string{"1", "2"}, "A: 1\r\nA: 2\r\n"},
		{"A", []string{"  padded\t"}, "A: padded\r\n"},
		{"A", []string{"x\r\nInjected: y"}, "A: x  Injected: y\r\n"},
		{"A", []string{"x\ny"}, "A: x y\r\n"},
		{"Bad Name", []string{"v"}, ""},
		{"", []string{"v"}, ""},
		{"A", nil, ""},
	} {
		if got := string(AppendField(nil, tc.name, tc.values)); got != tc.want {
			t.Errorf("AppendField(%q, %q) = %q, want %q", tc.name, tc.values, got, tc.want)
		}
		// net/http writes the same bytes for a valid name.
		if tc.name == "A" {
			var b strings.Builder
			_ = http.Header{tc.name: tc.values}.Write(&b)
			if b.String() != tc.want {
				t.Errorf("%q: net/http writes %q, AppendField %q", tc.values, b.String(), tc.want)
			}
		}
	}
	if got := Line("Age", "12"); got != "Age: 12\r\n" {
		t.Errorf("Line = %q", got)
	}
}

// lines splits field lines, sorted, so that maps' orders compare.
func lines(b []byte) []string {
	out := strings.SplitAfter(string(b), "\r\n")
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.Sort(out)
	return out
}

func TestPrepare(t *testing.T) {
	h := http.Header{
		"Content-Type":     {"text/plain"},
		"Content-Length":   {"64"},
		"Date":             {"Mon, 07 Dec 2026 20:58:37 GMT"},
		"Content-Encoding": {"gzip"},
		"Vary":             {"Accept", "Accept-Encoding"},
		"Bad Name":         {"dropped"},
	}
	p := Prepare(h)
	if p == nil {
		t.Fatal("Prepare refused a header without framing fields")
	}
	want := []string{"Content-Encoding: gzip\r\n", "Content-Type: text/plain\r\n", "Date: Mon, 07 Dec 2026 20:58:37 GMT\r\n", "Vary: Accept\r\n", "Vary: Accept-Encoding\r\n"}
	if got := lines(p.Lines); !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if p.Length != 64 || !p.Typed || !p.Dated || !p.Encoded || p.Header["Vary"] == nil {
		t.Errorf("prepared %+v", p)
	}
	for _, cl := range [][]string{{"-1"}, {"x"}, {"1", "1"}, nil} {
		q := Prepare(http.Header{"Content-Length": cl, "Content-Encoding": {}})
		if q == nil || q.Length != -1 || len(q.Lines) != 0 || q.Typed || q.Dated || q.Encoded {
			t.Errorf("Content-Length %q: prepared %+v, want no length, no lines, no flags", cl, q)
		}
	}
	for _, name := range []string{"Transfer-Encoding", "Connection", "Trailer", http.TrailerPrefix + "Checksum"} {
		if q := Prepare(http.Header{"A": {"b"}, name: {"x"}}); q != nil {
			t.Errorf("a header with %s prepared: %+v, want nil", name, q)
		}
	}
}

// FuzzPrepare: whatever a stored header holds (an upstream's fields), its
// prepared lines are one line per value of each field with a token name
// other than Content-Length, each "Name: value" with no CR or LF inside,
// so that no value can end the head or add a field.
func FuzzPrepare(f *testing.F) {
	f.Add("Etag", `"v1"`, "x\r\nSet-Cookie: a=b")
	f.Add("Content-Length", "12", "13")
	f.Add("Bad Name", "v", "")
	f.Fuzz(func(t *testing.T, name, v1, v2 string) {
		h := http.Header{name: {v1, v2}, "Content-Type": {"text/plain"}}
		p := Prepare(h)
		if p == nil {
			switch {
			case name == "Transfer-Encoding", name == "Connection", name == "Trailer", strings.HasPrefix(name, http.TrailerPrefix):
				return
			}
			t.Fatalf("Prepare(%q) = nil", h)
		}
		want := 1 // Content-Type
		if name != "Content-Length" && name != "Content-Type" && IsToken(name) {
			want += 2
		}
		if name == "Content-Type" {
			want = 2
		}
		got := lines(p.Lines)
		if len(got) != want {
			t.Fatalf("Prepare(%q): lines %q, want %d", h, got, want)
		}
		for _, l := range got {
			k, v, ok := strings.Cut(strings.TrimSuffix(l, "\r\n"), ": ")
			if !ok || !IsToken(k) || strings.ContainsAny(v, "\r\n") || h[k] == nil {
				t.Fatalf("Prepare(%q): line %q", h, l)
			}
		}
	})
}
