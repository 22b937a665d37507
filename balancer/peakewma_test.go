package balancer

import (
	"testing"
	"time"
)

func TestPeakEWMAPrefersFast(t *testing.T) {
	pool := weightedPool(t, 1, 1)
	pe, err := NewPeakEWMA(pool, LoadConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	for i := range 2000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		tg, done, err := pe.PickAt("", now)
		if err != nil {
			t.Fatal(err)
		}
		counts[name(tg)]++
		lat := 2 * time.Millisecond
		if name(tg) == "b" {
			lat = 40 * time.Millisecond
		}
		done(Result{Status: 200, Latency: lat, End: now})
	}
	if counts["a"] < 4*counts["b"] {
		t.Errorf("picks %v: want the 2ms target to get far more than the 40ms one", counts)
	}
	// The slow target is probed again once its estimate has decayed
	// below the fast one's (after about ln(20) decay times).
	probed := false
	for i := range 600 {
		now := t0.Add(2*time.Second + time.Duration(i)*100*time.Millisecond)
		tg, done, _ := pe.PickAt("", now)
		done(Result{Status: 200, Latency: 2 * time.Millisecond, End: now})
		probed = probed || name(tg) == "b"
	}
	if !probed {
		t.Error("slow target never probed after its estimate decayed")
	}
}
