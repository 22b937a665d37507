package ratelimit

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Rate is one token-bucket policy: Count events per Per, with bursts of up
// to Burst events. A bucket starts full (Burst tokens) and refills at
// Count/Per tokens per second; each request takes one token. So a key may
// make Burst requests at once and then Count per Per. For example
//
//	Rate{Count: 10, Per: time.Second, Burst: 20}   10/s, 20 at once
//	Rate{Count: 1000, Per: time.Hour}              1,000/hour, all at once
//
// Rate is a plain value, safe to copy. The zero Rate is invalid.
type Rate struct {
	// Count is the number of events allowed per Per. It must be positive
	// and at most 999,999,999,999,999 (MaxCount); so must Count scaled to
	// Per rounded up to whole seconds, the quota RateLimit-Policy reports
	// (for 10 per 500ms, 20 per second).
	Count int
	// Per is the length of the window Count applies to. It must be positive.
	Per time.Duration
	// Burst is the size of the bucket: the most events a key may make at
	// once. Zero means Count. It must not be negative.
	Burst int
	// Name names the policy in the RateLimit-Policy and RateLimit headers.
	// Empty means the rate's String form, such as "10/s". It must be
	// printable ASCII (a Structured Fields String) and unique among the
	// Rates of one Config. (Across the limiters of one Middleware, repeats
	// are renamed with a suffix; see Middleware.)
	Name string
}

// PerSecond returns a Rate of n events per second with a burst of n.
func PerSecond(n int) Rate { return Rate{Count: n, Per: time.Second} }

// PerMinute returns a Rate of n events per minute with a burst of n.
func PerMinute(n int) Rate { return Rate{Count: n, Per: time.Minute} }

// PerHour returns a Rate of n events per hour with a burst of n.
func PerHour(n int) Rate { return Rate{Count: n, Per: time.Hour} }

// ErrInvalidRate is wrapped by the errors of ParseRate and of constructors
// given an invalid Rate.
var ErrInvalidRate = errors.New("ratelimit: invalid rate")

// maxRateString bounds the input of ParseRate.
const maxRateString = 64

// ParseRate parses a rate of the form "COUNT/PER" where PER is a unit ("s",
// "m", "h" or "d" for one second, minute, hour or day) or a Go duration
// ("500ms", "10s", "1h30m"). Examples: "10/s", "1000/h", "5/100ms". The
// result has a zero Burst (meaning Count) and no Name. Errors wrap
// ErrInvalidRate.
func ParseRate(s string) (Rate, error) {
	if len(s) > maxRateString {
		return Rate{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidRate, maxRateString)
	}
	cs, ps, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%w: %q is not COUNT/PER", ErrInvalidRate, s)
	}
	n, err := strconv.Atoi(cs)
	if err != nil || n <= 0 || cs[0] == '+' {
		return Rate{}, fmt.Errorf("%w: count %q is not a positive integer", ErrInvalidRate, cs)
	}
	var per time.Duration
	switch ps {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	case "d":
		per = 24 * time.Hour
	default:
		per, err = time.ParseDuration(ps)
		if err != nil || per <= 0 {
			return Rate{}, fmt.Errorf("%w: period %q is not a positive duration or s, m, h, d", ErrInvalidRate, ps)
		}
	}
	r := Rate{Count: n, Per: per}
	if err := r.validate(); err != nil {
		return Rate{}, err
	}
	return r, nil
}

// String returns r in ParseRate's form: "10/s", "1000/h", "5/100ms". Burst
// and Name are not included.
func (r Rate) String() string {
	var per string
	switch r.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	case 24 * time.Hour:
		per = "d"
	default:
		per = r.Per.String()
	}
	return strconv.Itoa(r.Count) + "/" + per
}

// Limit returns r's sustained rate as an x/time/rate Limit (events per
// second), for use with rate.Limiter or rate.Sometimes. It returns 0 for
// an invalid r.
func (r Rate) Limit() rate.Limit {
	if r.Count <= 0 || r.Per <= 0 {
		return 0
	}
	return rate.Limit(float64(r.Count) / r.Per.Seconds())
}

// burst returns the effective bucket size.
func (r Rate) burst() int {
	if r.Burst == 0 {
		return r.Count
	}
	return r.Burst
}

// MaxCount is the largest Rate.Count, and the largest quota a Rate may
// report in RateLimit-Policy: a Structured Fields Integer has at most 15
// digits.
const MaxCount = 999_999_999_999_999

// maxSpan bounds Burst × interval (about 73 years) so that bucket times
// never overflow.
const maxSpan = int64(1) << 61

// maxBurst bounds Burst so that Burst × interval fits in an int64 of
// nanoseconds for any valid interval.
const maxBurst = 1 << 30

// validate reports whether r is usable, wrapping ErrInvalidRate.
func (r Rate) validate() error {
	switch {
	case r.Count <= 0:
		return fmt.Errorf("%w: count %d must be positive", ErrInvalidRate, r.Count)
	case r.Count > MaxCount:
		return fmt.Errorf("%w: count %d is larger than %d", ErrInvalidRate, r.Count, MaxCount)
	case r.Per <= 0:
		return fmt.Errorf("%w: period %v must be positive", ErrInvalidRate, r.Per)
	case r.Burst < 0:
		return fmt.Errorf("%w: burst %d must not be negative", ErrInvalidRate, r.Burst)
	case r.burst() > maxBurst:
		return fmt.Errorf("%w: burst %d is larger than %d", ErrInvalidRate, r.burst(), maxBurst)
	case r.interval() > maxSpan/int64(r.burst()):
		return fmt.Errorf("%w: burst %d × interval %v is longer than %v", ErrInvalidRate, r.burst(), time.Duration(r.interval()), time.Duration(maxSpan))
	}
	if _, w, ok := r.quota(); !ok {
		return fmt.Errorf("%w: %v is more than %d per %ds", ErrInvalidRate, r, MaxCount, w)
	}
	for i := 0; i < len(r.Name); i++ {
		if c := r.Name[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: name %q is not printable ASCII", ErrInvalidRate, r.Name)
		}
	}
	return nil
}

// interval returns the time one token takes to refill, in nanoseconds,
// rounded up so that the limiter never admits more than Count per Per.
func (r Rate) interval() int64 {
	per, n := int64(r.Per), int64(r.Count)
	t := per / n
	if per%n != 0 {
		t++
	}
	return t
}

// quota returns r's RateLimit-Policy quota q and window w (seconds): w is
// Per rounded up to whole seconds and q is Count scaled to w, rounded
// down. ok is false when q exceeds MaxCount. r.Count and r.Per must be
// positive. It uses exact integer arithmetic: Count × w never overflows.
func (r Rate) quota() (q, w int64, ok bool) {
	const sec = uint64(time.Second)
	per := uint64(r.Per)
	ws := per / sec
	if per%sec != 0 {
		ws++
	}
	hi, lo := bits.Mul64(uint64(r.Count), ws*sec) // ws*sec < 2^64 since per < 2^63
	if hi >= per {
		return 0, int64(ws), false // the quotient does not fit 64 bits
	}
	qq, _ := bits.Div64(hi, lo, per)
	return int64(min(qq, MaxCount+1)), int64(ws), qq <= MaxCount
}

// name returns the policy name used in headers.
func (r Rate) name() string {
	if r.Name != "" {
		return r.Name
	}
	return r.String()
}
