package ratelimit

import (
	"errors"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		ok   bool
	}{
		{"10/s", Rate{Count: 10, Per: time.Second}, true},
		{"1000/h", Rate{Count: 1000, Per: time.Hour}, true},
		{"5/m", Rate{Count: 5, Per: time.Minute}, true},
		{"7/d", Rate{Count: 7, Per: 24 * time.Hour}, true},
		{"5/100ms", Rate{Count: 5, Per: 100 * time.Millisecond}, true},
		{"3/1h30m", Rate{Count: 3, Per: 90 * time.Minute}, true},
		{"", Rate{}, false},
		{"10", Rate{}, false},
		{"0/s", Rate{}, false},
		{"-1/s", Rate{}, false},
		{"+1/s", Rate{}, false},
		{"1/0s", Rate{}, false},
		{"1/-1s", Rate{}, false},
		{"1/x", Rate{}, false},
		{"1/s/s", Rate{}, false},
		{"99999999999999999999/s", Rate{}, false},
		{"1000000000000/1ns", Rate{}, false},  // burst too large
		{"1000000000000000/h", Rate{}, false}, // count over 15 digits
		{"999999999999999/h", Rate{}, false},  // burst (= count) too large
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseRate(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidRate) {
					t.Errorf("ParseRate(%q) error %v does not wrap ErrInvalidRate", tc.in, err)
				}
				return
			}
			if got != tc.want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRateStringAndLimit(t *testing.T) {
	tests := []struct {
		r     Rate
		s     string
		limit float64
	}{
		{PerSecond(10), "10/s", 10},
		{PerMinute(60), "60/m", 1},
		{PerHour(3600), "3600/h", 1},
		{Rate{Count: 5, Per: 100 * time.Millisecond}, "5/100ms", 50},
		{Rate{}, "0/0s", 0},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.s {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.s)
		}
		if got := float64(tc.r.Limit()); got != tc.limit {
			t.Errorf("%+v.Limit() = %v, want %v", tc.r, got, tc.limit)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"10/s", "1000/h", "5/100ms", "1/1h30m", "0/s", "", "/", "1/", "1e3/s", "9223372036854775807/1ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRate) {
				t.Fatalf("ParseRate(%q) error %v does not wrap ErrInvalidRate", s, err)
			}
			return
		}
		if r.Count <= 0 || r.Per <= 0 || r.validate() != nil {
			t.Fatalf("ParseRate(%q) = %+v, an invalid rate", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v, %v", s, r, r.String(), back, err)
		}
		if _, err := New(Config{Rates: []Rate{r}}); err != nil {
			t.Fatalf("New with parsed rate %+v: %v", r, err)
		}
	})
}

// TestRateQuota checks the q and w of RateLimit-Policy: w is Per rounded
// up to whole seconds, q is Count scaled to w (rounded down) and at most
// MaxCount, a 15-digit Structured Fields Integer.
func TestRateQuota(t *testing.T) {
	tests := []struct {
		r    Rate
		q, w int64
		ok   bool
	}{
		{Rate{Count: 10, Per: time.Second}, 10, 1, true},
		{Rate{Count: 10, Per: 500 * time.Millisecond}, 20, 1, true},
		{Rate{Count: 1, Per: 1500 * time.Millisecond}, 1, 2, true},
		{Rate{Count: 3, Per: time.Nanosecond}, 3_000_000_000, 1, true},
		{Rate{Count: MaxCount, Per: time.Hour}, MaxCount, 3600, true},
		{Rate{Count: 999_999_999_999, Per: time.Millisecond}, 999_999_999_999_000, 1, true},
		{Rate{Count: 1, Per: 1 << 61}, 1, 2_305_843_010, true},
		{Rate{Count: 1_000_000_000_000, Per: time.Millisecond}, 0, 1, false},
		{Rate{Count: MaxCount, Per: time.Nanosecond}, 0, 1, false},
		{Rate{Count: 1000, Per: 1<<63 - 1}, 1000, 9_223_372_037, true},
		{Rate{Count: MaxCount, Per: 1<<63 - 1}, 0, 9_223_372_037, false}, // scaled up past MaxCount
	}
	for _, tc := range tests {
		q, w, ok := tc.r.quota()
		if ok != tc.ok || w != tc.w || (ok && q != tc.q) {
			t.Errorf("%v.quota() = %d, %d, %v; want %d, %d, %v", tc.r, q, w, ok, tc.q, tc.w, tc.ok)
		}
	}
}
