package metrics

import (
	"testing"
	"time"

	"github.com/gatekit/gatekit/surge"
)

func TestSurgeReportsTheLimitAndTheShedding(t *testing.T) {
	l, err := surge.NewLimiter(surge.LimiterConfig{InitialLimit: 5, MinLimit: 5, MaxLimit: 5, MaxQueue: -1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := surge.NewDetector(l, surge.DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := mustNew(t, Config{})
	if err := m.AddSurge("api", l, d); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var held []surge.Token
	shed := 0
	for range 8 {
		tok, err := l.TryAcquireAt(t0)
		if err != nil {
			shed++
			continue
		}
		held = append(held, tok)
	}
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`gatekit_surge_limit{pool="api"}`:                       5,
		`gatekit_surge_in_flight{pool="api"}`:                   5,
		`gatekit_surge_shed_total{pool="api"}`:                  float64(shed),
		`gatekit_surge_arrivals_total{pool="api"}`:              8,
		`gatekit_surge_state{pool="api"}`:                       0,
		`gatekit_surge_events_total{kind="started",pool="api"}`: 0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if shed != 3 {
		t.Errorf("%d requests shed over a limit of 5 with no queue, want 3", shed)
	}
	for _, tok := range held {
		tok.ReleaseAt(t0.Add(time.Millisecond), surge.Success)
	}
}
