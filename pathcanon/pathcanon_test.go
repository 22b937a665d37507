package pathcanon

import (
	"errors"
	"strings"
	"testing"
)

func TestPathRejectsConfusingForms(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"/", "/", nil},
		{"/api/users", "/api/users", nil},
		{"/api/users/", "/api/users/", nil},
		{"/%61dmin", "/admin", nil},
		{"/a%2db%5fc%7e", "/a-b_c~", nil},
		{"/caf%c3%a9", "/caf%C3%A9", nil},
		{"/café", "/caf%C3%A9", nil},
		{"/a;b=c/d", "/a;b=c/d", nil},
		{"/a%3bb", "/a%3Bb", nil},
		{"/a b", "/a%20b", nil},
		{"/a\"<>`{}|^", "/a%22%3C%3E%60%7B%7D%7C%5E", nil},
		{"/a%2e", "/a.", nil},
		{"/a%2eb/c", "/a.b/c", nil},
		{"/.well-known/x", "/.well-known/x", nil},
		{"/...", "", ErrDotSegment}, // "..." and "..%20" are ".." to servers that trim dots and spaces
		{"/a..", "/a..", nil},
		{"/a%25b", "/a%25b", nil},
		{"", "", ErrNotAbsolute},
		{"*", "", ErrNotAbsolute},
		{"api", "", ErrNotAbsolute},
		{"/api/../admin", "", ErrDotSegment},
		{"/api/./admin", "", ErrDotSegment},
		{"/api/%2e%2e/admin", "", ErrDotSegment},
		{"/api/%2E./admin", "", ErrDotSegment},
		{"/api/.%2e/admin", "", ErrDotSegment},
		{"/api/%2e/admin", "", ErrDotSegment},
		{"/api/..", "", ErrDotSegment},
		{"/api/..;/admin", "", ErrDotSegment},
		{"/api/.;x/admin", "", ErrDotSegment},
		{"/api/..%3b/admin", "", ErrDotSegment},
		{"/api/%2e%2e%3Bx/admin", "", ErrDotSegment},
		{"/api/...%3b/admin", "", ErrDotSegment},
		{"/api/..%20", "", ErrDotSegment},
		{"/api/%25252e", "", ErrDoubleEncoding},
		{"/api/..%2Fadmin", "", ErrEncodedSeparator},
		{"/api%2fadmin", "", ErrEncodedSeparator},
		{"/api%5cadmin", "", ErrEncodedSeparator},
		{"/api\\..\\admin", "", ErrBackslash},
		{"/api%00", "", ErrControl},
		{"/api\x00", "", ErrControl},
		{"/api%0d%0a", "", ErrControl},
		{"/api%7f", "", ErrControl},
		{"/api%", "", ErrInvalidEscape},
		{"/api%2", "", ErrInvalidEscape},
		{"/api%zz", "", ErrInvalidEscape},
		{"/api/%c0%ae%c0%ae/admin", "", ErrInvalidUTF8},
		{"/api/%e0%80%ae", "", ErrInvalidUTF8},
		{"/api/%ff", "", ErrInvalidUTF8},
		{"/api/\xff", "", ErrInvalidUTF8},
		{"/api/%c3", "", ErrInvalidUTF8},
		{"/api/%c3/x", "", ErrInvalidUTF8},
		{"/api/%252e%252e/admin", "", ErrDoubleEncoding},
		{"/api/%252F", "", ErrDoubleEncoding},
		{"/api/%255c", "", ErrDoubleEncoding},
		{"/api/%2500", "", ErrDoubleEncoding},
		{"/api/%25%32%65", "", ErrDoubleEncoding},
		{"//admin", "", ErrEmptySegment},
		{"/api//admin", "", ErrEmptySegment},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Path(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Path(%q) = %q, %v, want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, ErrBadPath) {
				t.Errorf("error %v does not match ErrBadPath", err)
			}
		})
	}
}

func TestOptionsRelaxOrTightenRules(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		in   string
		want string
		err  error
	}{
		{"encoded slash kept", Options{InsecureAllowEncodedSeparators: true}, "/a%2fb", "/a%2Fb", nil},
		{"backslash encoded", Options{InsecureAllowEncodedSeparators: true}, "/a\\b", "/a%5Cb", nil},
		{"dots resolved", Options{InsecureResolveDotSegments: true}, "/api/../admin", "/admin", nil},
		{"dots resolved at root", Options{InsecureResolveDotSegments: true}, "/../../a", "/a", nil},
		{"trailing dot", Options{InsecureResolveDotSegments: true}, "/a/b/.", "/a/b/", nil},
		{"trailing dotdot", Options{InsecureResolveDotSegments: true}, "/a/b/..", "/a/", nil},
		{"dot param still rejected", Options{InsecureResolveDotSegments: true}, "/a/..;x/b", "", ErrDotSegment},
		{"merge", Options{MergeSlashes: true}, "//a///b/", "/a/b/", nil},
		{"empty kept", Options{InsecureAllowEmptySegments: true}, "//a//b", "//a//b", nil},
		{"NUL never", Options{InsecureAllowEncodedSeparators: true, InsecureResolveDotSegments: true, InsecureAllowEmptySegments: true}, "/a%00", "", ErrControl},
		{"overlong never", Options{InsecureAllowEncodedSeparators: true, InsecureResolveDotSegments: true}, "/%c0%af", "", ErrInvalidUTF8},
		{"case folded", Options{CaseInsensitive: true}, "/API/Users/%41b", "/api/users/ab", nil},
		{"case folded keeps hex upper", Options{CaseInsensitive: true}, "/Caf%c3%a9", "/caf%C3%A9", nil},
		{"case kept by default", Options{}, "/API/Users", "/API/Users", nil},
		{"params kept by default", Options{}, "/api;v=1/users", "/api;v=1/users", nil},
		{"params rejected", Options{Params: RejectParams}, "/api;v=1/users", "", ErrPathParam},
		{"encoded semicolon is data", Options{Params: RejectParams}, "/a%3Bb", "/a%3Bb", nil},
		{"params stripped", Options{Params: StripParams}, "/api;v=1/users;jsessionid=x", "/api/users", nil},
		{"stripped to an empty segment", Options{Params: StripParams}, "/a/;x/b", "", ErrEmptySegment},
		{"stripped dot param still rejected", Options{Params: StripParams}, "/a/..;x/b", "", ErrDotSegment},
		{"stripped and folded", Options{Params: StripParams, CaseInsensitive: true}, "/STORE;v=1/Pets/0", "/store/pets/0", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.Canonical(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Canonical(%q) = %q, %v, want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPathDoesNotAllocateWhenCanonical(t *testing.T) {
	p := "/api/v1/users/42;v=1"
	if n := testing.AllocsPerRun(100, func() { _, _ = Path(p) }); n != 0 {
		t.Errorf("Path(%q) allocs = %v, want 0", p, n)
	}
}

func TestPlainPathsAgreeWithFullRules(t *testing.T) {
	cases := []struct {
		p     string
		o     Options
		plain bool
	}{
		{"/", Options{}, true},
		{"/api/v1/users/42", Options{}, true},
		{"/a/", Options{}, true},
		{"/a.b/c~d_e-f/x:y@z!$&'()*+,=", Options{}, true},
		{"/a;v=1/b", Options{}, true},
		{"/a;v=1/b", Options{Params: RejectParams}, false},
		{"/a;v=1/b", Options{Params: StripParams}, false},
		{"/API/Users", Options{}, true},
		{"/API/Users", Options{CaseInsensitive: true}, false},
		{"/a//b", Options{}, false},
		{"/a//", Options{}, false},
		{"//", Options{}, false},
		{"/./a", Options{}, false},
		{"/a/..", Options{}, false},
		{"/.well-known/x", Options{}, false},
		{"/a%41", Options{}, false},
		{"/a b", Options{}, false},
		{"/a\\b", Options{}, false},
		{"/caf\u00e9", Options{}, false},
		{"/a\x00", Options{}, false},
		{"a/b", Options{}, false},
		{"", Options{}, false},
	}
	for _, tc := range cases {
		if got := tc.o.plain(tc.p); got != tc.plain {
			t.Errorf("plain(%q) with %+v = %v, want %v", tc.p, tc.o, got, tc.plain)
		}
		if !tc.plain {
			continue
		}
		if got, err := tc.o.canonical(tc.p); err != nil || got != tc.p {
			t.Errorf("canonical(%q) with %+v = %q, %v; want it unchanged", tc.p, tc.o, got, err)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"/", "/api/../admin", "/%2e%2e/", "/a%2fb", "//x", "/caf%c3%a9", "/%c0%ae", "/a;b", "/a\\b", "/%252e", "/a/./b/../c", "/%25%32%65", "/API;v=1/x", "/a/;x/b"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(0xf0))
	}
	f.Fuzz(func(t *testing.T, p string, flags uint8) {
		o := Options{
			InsecureAllowEncodedSeparators: flags&1 != 0,
			InsecureResolveDotSegments:     flags&2 != 0,
			InsecureAllowEmptySegments:     flags&4 != 0,
			MergeSlashes:                   flags&8 != 0,
			CaseInsensitive:                flags&16 != 0,
			Params:                         ParamMode(flags>>5) % 3,
		}
		c, err := o.Canonical(p)
		if o.plain(p) {
			// The fast path must agree with the full rules.
			if full, ferr := o.canonical(p); ferr != nil || full != p {
				t.Fatalf("plain(%q) with %+v, but the full rules give %q, %v", p, o, full, ferr)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("Canonical(%q) error %v does not match ErrBadPath", p, err)
			}
			return
		}
		c2, err := o.Canonical(c)
		if err != nil || c2 != c {
			t.Fatalf("Canonical not idempotent: %q -> %q -> %q, %v", p, c, c2, err)
		}
		// Strict: no dot segments, encoded separators or controls survive.
		for _, seg := range strings.Split(c, "/") {
			base, _, _ := strings.Cut(seg, ";")
			base, _, _ = strings.Cut(base, "%3B")
			if base == "." || base == ".." {
				t.Fatalf("Canonical(%q) = %q keeps a dot-segment", p, c)
			}
		}
		up := strings.ToUpper(c)
		if !o.InsecureAllowEncodedSeparators && (strings.Contains(up, "%2F") || strings.Contains(up, "%5C") || strings.Contains(c, "\\")) {
			t.Fatalf("Canonical(%q) = %q keeps an encoded separator", p, c)
		}
		if strings.Contains(up, "%00") || strings.Contains(up, "%252E") {
			t.Fatalf("Canonical(%q) = %q keeps NUL or a double-encoded dot", p, c)
		}
		if o.Params != KeepParams && strings.Contains(c, ";") {
			t.Fatalf("Canonical(%q) with Params %d = %q keeps a path parameter", p, o.Params, c)
		}
		if o.CaseInsensitive {
			for i := 0; i < len(c); i++ {
				if 'A' <= c[i] && c[i] <= 'Z' && !(i >= 1 && c[i-1] == '%' || i >= 2 && c[i-2] == '%') {
					t.Fatalf("Canonical(%q) case-insensitive = %q keeps an upper-case letter", p, c)
				}
			}
		}
		if h := Host(p); Host(h) != h {
			t.Fatalf("Host not idempotent on %q", p)
		}
	})
}

func TestCheckRejectsUnknownParamMode(t *testing.T) {
	for _, m := range []ParamMode{-1, StripParams + 1} {
		if err := (Options{Params: m}).Check(); err == nil {
			t.Errorf("Check(Params: %d) = nil, want an error", m)
		}
	}
	if err := (Options{Params: StripParams}).Check(); err != nil {
		t.Errorf("Check(StripParams) = %v", err)
	}
}

func BenchmarkPath(b *testing.B) {
	for _, p := range []string{"/api/v1/users/42", "/api/v1/caf%c3%a9/%7euser"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Path(p)
			}
		})
	}
}
