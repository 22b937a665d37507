package surge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

const tick = DefaultInterval

// phase offers perTick requests at every tick for d.
type phase struct {
	perTick int
	d       time.Duration
}

// drive runs phases against a limiter of fixed limit, evaluating det at
// every tick; requests beyond the limit in a tick are shed, the others
// take 1ms. It returns the events with the tick they came at.
func drive(det *Detector, l *Limiter, phases []phase) (kinds []string, at []time.Duration) {
	now := t0
	det.EvaluateAt(now)
	for _, p := range phases {
		for end := now.Add(p.d); now.Before(end); {
			var toks []Token
			for range p.perTick {
				if tok, err := l.TryAcquireAt(now); err == nil {
					toks = append(toks, tok)
				}
			}
			for _, tok := range toks {
				tok.ReleaseAt(now.Add(time.Millisecond), Success)
			}
			now = now.Add(tick)
			if ev, ok := det.EvaluateAt(now); ok {
				kinds = append(kinds, ev.Kind.String())
				at = append(at, now.Sub(t0))
			}
		}
	}
	return kinds, at
}

func TestDetectorOneEventPerTransition(t *testing.T) {
	const base = 5 // 20 requests a second
	for _, tc := range []struct {
		name   string
		limit  int
		phases []phase
		want   []string
	}{
		{"steady load never surges", 10,
			[]phase{{base, 10 * time.Minute}},
			nil},
		{"a shedding spike starts and ends once", 10,
			[]phase{{base, time.Minute}, {40, 10 * time.Second}, {base, 2 * time.Minute}},
			[]string{"surge started", "surge ended"}},
		{"a rate spike without shedding starts and ends once", 1000,
			[]phase{{base, time.Minute}, {25, 20 * time.Second}, {base, 2 * time.Minute}},
			[]string{"surge started", "surge ended"}},
		{"a small rise is no surge", 1000,
			[]phase{{base, time.Minute}, {8, time.Minute}, {base, time.Minute}},
			nil},
		{"a long surge is sustained every minute", 10,
			[]phase{{base, time.Minute}, {40, 150 * time.Second}, {base, 2 * time.Minute}},
			[]string{"surge started", "surge sustained", "surge sustained", "surge ended"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{InitialLimit: tc.limit, MinLimit: tc.limit, MaxLimit: tc.limit, MaxQueue: -1})
			var hooked []string
			det, err := NewDetector(l, DetectorConfig{OnEvent: func(e Event) { hooked = append(hooked, e.Kind.String()) }})
			if err != nil {
				t.Fatal(err)
			}
			got, at := drive(det, l, tc.phases)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("events %v at %v, want %v", got, at, tc.want)
			}
			if fmt.Sprint(hooked) != fmt.Sprint(tc.want) {
				t.Errorf("OnEvent saw %v, want %v", hooked, tc.want)
			}
			st := det.Stats()
			if st.State != Calm || st.Started+st.Sustained+st.Ended != uint64(len(tc.want)) {
				t.Errorf("Stats() = %+v, want calm with %d events counted", st, len(tc.want))
			}
		})
	}
}

// TestDetectorFlappingLoadIsOneSurge alternates 2s spikes with 2s of calm
// for two minutes: one surge, never a start per spike.
func TestDetectorFlappingLoadIsOneSurge(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
	det, err := NewDetector(l, DetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	phases := []phase{{5, time.Minute}}
	for range 30 {
		phases = append(phases, phase{40, 2 * time.Second}, phase{5, 2 * time.Second})
	}
	phases = append(phases, phase{5, 2 * time.Minute})
	got, at := drive(det, l, phases)
	want := "[surge started surge sustained surge ended]" // sustained once, a minute in
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v at %v, want %s", got, at, want)
	}
}

// TestDetectorStartsAfterTheSignalHolds checks the start hysteresis: a
// shedding burst shorter than StartAfter starts nothing.
func TestDetectorStartsAfterTheSignalHolds(t *testing.T) {
	for _, tc := range []struct {
		burst time.Duration
		want  int
	}{
		{2 * tick, 0},
		{6 * tick, 1},
	} {
		t.Run(tc.burst.String(), func(t *testing.T) {
			l := mustLimiter(t, LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
			det, _ := NewDetector(l, DetectorConfig{ShedFraction: 0.5, StartAfter: 3 * tick})
			drive(det, l, []phase{{5, time.Minute}, {100, tc.burst}, {5, 2 * time.Minute}})
			if got := det.Stats().Started; got != uint64(tc.want) {
				t.Errorf("a %v burst started %d surges, want %d", tc.burst, got, tc.want)
			}
		})
	}
}

func TestDetectorSignals(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
	det, _ := NewDetector(l, DetectorConfig{})
	drive(det, l, []phase{{5, time.Minute}, {20, time.Minute}})
	s := det.Stats().Signals
	// 80 offered and 40 admitted a second: pressure 2.
	if s.ShortRate < 75 || s.ShortRate > 80 || s.Pressure < 1.9 || s.Pressure > 2.1 || s.Limit != 10 {
		t.Errorf("Signals = %+v, want ShortRate about 80, Pressure about 2, Limit 10", s)
	}
	if s.LongRate <= 20 || s.LongRate >= s.ShortRate || s.RateRatio != s.ShortRate/s.LongRate {
		t.Errorf("Signals = %+v, want LongRate between the old and the new rate", s)
	}
}

func TestDetectorLogsEventsByName(t *testing.T) {
	var buf bytes.Buffer
	l := mustLimiter(t, LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
	det, _ := NewDetector(l, DetectorConfig{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	drive(det, l, []phase{{5, time.Minute}, {40, 10 * time.Second}, {5, 2 * time.Minute}})
	var msgs []string
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var rec struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msgs = append(msgs, rec.Level+" "+rec.Msg)
	}
	if got, want := fmt.Sprint(msgs), "[WARN surge started INFO surge ended]"; got != want {
		t.Errorf("logged %s, want %s", got, want)
	}
}

func TestNewDetectorRejectsInvalidConfig(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{})
	if _, err := NewDetector(nil, DetectorConfig{}); err == nil {
		t.Error("NewDetector(nil) = nil error")
	}
	if det, err := NewDetector(l, DetectorConfig{}); err != nil || det.Limiter() != l {
		t.Errorf("NewDetector(l) = %v, %v; want a detector of l", det, err)
	}
	for _, cfg := range []DetectorConfig{
		{ShortWindow: time.Hour},
		{RateRatio: 1},
		{LatencyRatio: 0.5},
		{MinRate: -1},
		{ShedFraction: 2},
		{Cooldown: -time.Second},
	} {
		if _, err := NewDetector(l, cfg); err == nil {
			t.Errorf("NewDetector(%+v) = nil error, want one", cfg)
		}
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	ev := Event{Kind: Sustained, At: t0.Add(time.Minute), Since: t0, Signals: Signals{ShortRate: 80, Pressure: 2, Limit: 10}}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !back.At.Equal(ev.At) || back.Kind != ev.Kind || back.Signals != ev.Signals {
		t.Fatalf("round trip of %s = %+v, %v", b, back, err)
	}
	if !bytes.Contains(b, []byte(`"event":"surge sustained"`)) {
		t.Errorf("JSON %s lacks the event name", b)
	}
}

func TestDetectorStartAndClose(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{})
	det, _ := NewDetector(l, DetectorConfig{Interval: time.Millisecond})
	det.Start()
	det.Start()
	for det.Stats().Since.IsZero() {
		time.Sleep(time.Millisecond) // until the loop evaluated once
	}
	det.Close()
	det.Close()
	det.Start() // after Close: nothing (goleak checks)
}

// TestDetectorSurgeEndsWhenTrafficStops ends a surge of slow answers by
// stopping the traffic altogether: the latency of the last window must not
// hold the surge open with nothing arriving.
func TestDetectorSurgeEndsWhenTrafficStops(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{MinLimit: 2})
	det, _ := NewDetector(l, DetectorConfig{})
	now := t0
	det.EvaluateAt(now)
	for i := range 200 { // 50 s of 40 requests a second, 10 at a time
		// After 20 s the backend queues: the first two of each batch
		// are answered in 10ms, the rest in 100ms. The limit is held
		// at 10, as an operator might, so that the queueing shows.
		l.SetLimit(10)
		var toks []Token
		for range 10 {
			if tok, err := l.TryAcquireAt(now); err == nil {
				toks = append(toks, tok)
			}
		}
		for j, tok := range toks {
			lat := 10 * time.Millisecond
			if i >= 80 && j >= 2 {
				lat = 100 * time.Millisecond
			}
			tok.ReleaseAt(now.Add(lat), Success)
		}
		now = now.Add(tick)
		det.EvaluateAt(now)
	}
	if st := det.Stats(); st.State != Surging || st.Signals.LatencyRatio < 2 {
		t.Fatalf("after slow answers: Stats() = %+v, want a latency surge", st)
	}
	for range 240 { // a minute without traffic
		now = now.Add(tick)
		det.EvaluateAt(now)
	}
	if st := det.Stats(); st.State != Calm || st.Ended != 1 || st.Sustained != 0 {
		t.Errorf("a minute after the traffic stopped: Stats() = %+v, want calm, ended once, never sustained", st)
	}
}

func TestDetectorStatsJSON(t *testing.T) {
	l := mustLimiter(t, LimiterConfig{InitialLimit: 10, MinLimit: 10, MaxLimit: 10, MaxQueue: -1})
	det, _ := NewDetector(l, DetectorConfig{})
	drive(det, l, []phase{{5, time.Minute}, {40, 5 * time.Second}})
	b, err := json.Marshal(det.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil || got["state"] != "surging" || got["started"] != 1.0 {
		t.Errorf("Stats() as JSON = %s (%v), want state surging, started 1", b, err)
	}
}

// FuzzEventJSON decodes arbitrary bytes as an Event, as a webhook
// receiver does: it must never panic, and an Event it accepts must encode
// and decode back to itself.
func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(`{"event":"surge started","at":"2026-01-02T03:04:05Z","since":"2026-01-02T03:04:05Z","signals":{"pressure":2}}`))
	f.Add([]byte(`{"event":"surge ended"}`))
	f.Add([]byte(`{"event":"surge exploded"}`))
	f.Add([]byte(`{"event":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		if json.Unmarshal(b, &ev) != nil || ev.Kind == 0 {
			return
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("Marshal(%+v) from %q: %v", ev, b, err)
		}
		var back Event
		if err := json.Unmarshal(out, &back); err != nil || back.Kind != ev.Kind || !back.At.Equal(ev.At) || back.Signals != ev.Signals {
			t.Fatalf("round trip of %q: %s -> %+v, %v", b, out, back, err)
		}
	})
}
