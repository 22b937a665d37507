package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestTimeline plays a shortened scenario at a lighter load, with the
// hook called directly and through a signed webhook, and checks the story
// the timeline tells: one surge, a scale-out that adds backends to the
// pool, and the surge's end.
func TestTimeline(t *testing.T) {
	for _, webhook := range []bool{false, true} {
		t.Run(fmt.Sprintf("webhook=%v", webhook), func(t *testing.T) {
			t.Parallel()
			playTimeline(t, webhook)
		})
	}
}

func playTimeline(t *testing.T, webhook bool) {
	sc := defaultScenario()
	sc.webhook = webhook
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
	via := ""
	if webhook {
		via = " (webhook)"
	}
	for _, want := range []string{"surge started" + via + ", +2 backends", "surge ended" + via} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q", want)
		}
	}
	// One spike, one surge; a machine loaded by other work may stall the
	// demo long enough to queue again, so allow a second one, but every
	// surge must have ended and backends must have been added.
	var started, ended, backends int
	summary := text[strings.LastIndex(text, "surges started"):]
	if _, err := fmt.Sscanf(summary, "surges started %d, ended %d; %d backends", &started, &ended, &backends); err != nil {
		t.Fatalf("summary %q: %v", summary, err)
	}
	if started < 1 || started > 2 || ended != started || backends < 3 {
		t.Errorf("summary %q: want one surge (two at most), all ended, backends added", summary)
	}
	if rows := strings.Count(text, "\n") - 5; rows < 8 {
		t.Errorf("%d timeline rows, want one a second", rows)
	}
}
