package balancer

import (
	"fmt"
	"testing"
)

// BenchmarkMaglevBuild measures building a Maglev table, done once per
// pool change.
func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		s := sizedPool(b, n).load()
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buildMaglev(s.avail, s.weights, maglevSize(n))
			}
		})
	}
}
