package balancer

import (
	"context"
	"testing"
)

func TestDoneCacheFollowsInnerDone(t *testing.T) {
	var c doneCache
	var got []string
	a := func(Result) { got = append(got, "a") }
	b := func(Result) { got = append(got, "b") }
	builds := 0
	mk := func(inner func(Result)) func(Result) {
		builds++
		return func(r Result) { inner(r) }
	}
	for _, inner := range []func(Result){a, a, b, b, a} {
		c.get(inner, mk)(Result{})
	}
	if want := "a a b b a"; joinStrings(got) != want || builds != 3 {
		t.Fatalf("calls %q with %d builds, want %q with 3 (a rebuild each time the inner done changes)", got, builds, want)
	}
}

func joinStrings(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

// BenchmarkPickWrapped measures a pick plus done through Outlier.Wrap and
// a Breaker around round-robin at 3 targets.
func BenchmarkPickWrapped(b *testing.B) {
	pool := sizedPool(b, 3)
	for _, bp := range withWrappers(b, pool, benchPolicies(b, pool)[:1]) {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_, done, err := bp.p.Pick(context.Background(), "")
				if err != nil {
					b.Fatal(err)
				}
				done(Result{Status: 200})
			}
		})
	}
}
