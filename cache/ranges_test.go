package cache

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// TestRangesServedFromStoredResponse: a stored complete response answers
// a single byte range with 206 and the slice, without asking upstream.
func TestRangesServedFromStoredResponse(t *testing.T) {
	f := newFixture(t, Config{}, func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", `"e1"`)
		w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
		w.Header().Set("A", "1")
		io.WriteString(w, "0123456789")
	})
	f.get("http://example.com/r")
	tests := []struct {
		name, method string
		hdr          []string
		status       int
		body, cr     string
	}{
		{"first bytes", "GET", []string{"Range", "bytes=0-1"}, 206, "01", "bytes 0-1/10"},
		{"open end", "GET", []string{"Range", "bytes=5-"}, 206, "56789", "bytes 5-9/10"},
		{"suffix", "GET", []string{"Range", "bytes=-3"}, 206, "789", "bytes 7-9/10"},
		{"end beyond the body", "GET", []string{"Range", "bytes=8-100"}, 206, "89", "bytes 8-9/10"},
		{"start beyond the body", "GET", []string{"Range", "bytes=20-"}, 416, "", "bytes */10"},
		{"several ranges: whole body", "GET", []string{"Range", "bytes=0-1,3-4"}, 200, "0123456789", ""},
		{"other unit: whole body", "GET", []string{"Range", "items=0-1"}, 200, "0123456789", ""},
		{"malformed: whole body", "GET", []string{"Range", "bytes=3-1"}, 200, "0123456789", ""},
		{"if-range etag matches", "GET", []string{"Range", "bytes=0-1", "If-Range", `"e1"`}, 206, "01", "bytes 0-1/10"},
		{"if-range etag differs", "GET", []string{"Range", "bytes=0-1", "If-Range", `"e2"`}, 200, "0123456789", ""},
		{"if-range weak etag", "GET", []string{"Range", "bytes=0-1", "If-Range", `W/"e1"`}, 200, "0123456789", ""},
		{"if-range date matches", "GET", []string{"Range", "bytes=0-1", "If-Range", "Thu, 01 Jan 2026 00:00:00 GMT"}, 206, "01", "bytes 0-1/10"},
		{"head ignores range", "HEAD", []string{"Range", "bytes=0-1"}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(tt.method, "http://example.com/r", tt.hdr...)
			if rec.Code != tt.status || rec.Body.String() != tt.body || rec.Header().Get("Content-Range") != tt.cr {
				t.Fatalf("got %d %q Content-Range %q, want %d %q %q", rec.Code, rec.Body, rec.Header().Get("Content-Range"), tt.status, tt.body, tt.cr)
			}
			if !isHit(ourStatus(rec.Header())) || rec.Header().Get("A") != "1" {
				t.Fatalf("Cache-Status %q, A %q: want a hit with the stored fields", ourStatus(rec.Header()), rec.Header().Get("A"))
			}
			if tt.status == 206 && rec.Header().Get("Content-Length") != strconv.Itoa(len(tt.body)) {
				t.Fatalf("Content-Length %q for %d bytes", rec.Header().Get("Content-Length"), len(tt.body))
			}
		})
	}
	if n := f.o.n.Load(); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
}

func TestParseByteRange(t *testing.T) {
	tests := []struct {
		spec        string
		first, last int64
		ok          bool
	}{
		{"bytes=0-0", 0, 0, true},
		{"BYTES = 2-4", 2, 4, true},
		{"bytes=-20", 0, 9, true},
		{"bytes=-0", -1, 0, true},
		{"bytes=10-", -1, 0, true},
		{"bytes=+1-2", 0, 0, false},
		{"bytes=1-+2", 0, 0, false},
		{"bytes=-+2", 0, 0, false},
		{"bytes=a-b", 0, 0, false},
		{"bytes=5", 0, 0, false},
		{"bytes 0-1", 0, 0, false},
	}
	for _, tt := range tests {
		first, last, ok := parseByteRange(tt.spec, 10)
		if ok != tt.ok || (ok && (first != tt.first || (first >= 0 && last != tt.last))) {
			t.Errorf("parseByteRange(%q) = %d, %d, %v; want %d, %d, %v", tt.spec, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
}

// FuzzParseByteRange checks that a satisfiable range always lies inside
// the body.
func FuzzParseByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-1", "bytes=-5", "bytes=3-", "bytes=9-100", "bytes=0-1,2-3"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 || size > 1<<40 {
			return
		}
		first, last, ok := parseByteRange(spec, size)
		if ok && first >= 0 && (first > last || last >= size) {
			t.Fatalf("parseByteRange(%q, %d) = %d-%d", spec, size, first, last)
		}
	})
}
