package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestTimeline plays a shortened scenario at a lighter load and checks
// the story the timeline tells: one surge, a scale-out that adds
// backends to the pool, and the surge's end.
func TestTimeline(t *testing.T) {
	sc := defaultScenario()
	sc.service = 100 * time.Millisecond // 40 requests/s per backend: light under -race
	sc.calm, sc.surge, sc.after = time.Second, 5*time.Second, 3*time.Second
	sc.rampUp = time.Second
	sc.detector.ShortWindow, sc.detector.LongWindow = 500*time.Millisecond, 5*time.Second
	sc.detector.Cooldown, sc.detector.SustainEvery = time.Second, 1500*time.Millisecond
	var out bytes.Buffer
	if err := run(context.Background(), &out, sc); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	for _, want := range []string{"surge started, +2 backends", "surge ended", "surges started 1, ended 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	if strings.Contains(text, "; 1 backends") {
		t.Error("no backend was added")
	}
	if rows := strings.Count(text, "\n") - 5; rows < 8 {
		t.Errorf("%d timeline rows, want one a second", rows)
	}
}
