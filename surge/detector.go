package surge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Detector defaults.
const (
	DefaultInterval     = 250 * time.Millisecond // DetectorConfig.Interval
	DefaultShortWindow  = 10 * time.Second       // DetectorConfig.ShortWindow
	DefaultLongWindow   = 5 * time.Minute        // DetectorConfig.LongWindow
	DefaultRateRatio    = 2.0                    // DetectorConfig.RateRatio
	DefaultMinRate      = 1.0                    // DetectorConfig.MinRate, requests per second
	DefaultLatencyRatio = 2.0                    // DetectorConfig.LatencyRatio
	DefaultShedFraction = 0.01                   // DetectorConfig.ShedFraction
	DefaultStartAfter   = time.Second            // DetectorConfig.StartAfter
	DefaultCooldown     = 30 * time.Second       // DetectorConfig.Cooldown
	DefaultSustainEvery = time.Minute            // DetectorConfig.SustainEvery
)

// DetectorConfig configures a Detector. The zero value of each field
// selects the default documented on it.
type DetectorConfig struct {
	// Interval is how often Start's loop evaluates. Zero means
	// DefaultInterval (250ms).
	Interval time.Duration
	// ShortWindow and LongWindow are the time constants of the two
	// exponentially weighted request rates compared. Zero means
	// DefaultShortWindow (10s) and DefaultLongWindow (5m); ShortWindow must
	// be shorter.
	ShortWindow, LongWindow time.Duration
	// RateRatio is how many times the long-window rate the short-window
	// rate must reach to signal a surge. Zero means DefaultRateRatio (2);
	// it must be above 1.
	RateRatio float64
	// MinRate is the short-window rate, in requests per second, below
	// which the rate never signals a surge (3 requests a second after 1 is
	// no spike). Zero means DefaultMinRate (1); negative is an error.
	MinRate float64
	// LatencyRatio is how many times its no-load latency the limiter's
	// last window mean must reach to signal a surge. Zero means
	// DefaultLatencyRatio (2); it must be above 1.
	LatencyRatio float64
	// ShedFraction is the share of the arrivals since the last evaluation
	// shed that signals a surge. Zero means DefaultShedFraction (0.01); it must be
	// in (0, 1].
	ShedFraction float64
	// StartAfter is how long a signal must hold before a surge starts.
	// Zero means DefaultStartAfter (1s).
	StartAfter time.Duration
	// Cooldown is how long every signal must stay quiet before a surge
	// ends. A signal returning meanwhile restarts the count and starts no
	// new surge. Zero means DefaultCooldown (30s).
	Cooldown time.Duration
	// SustainEvery is the period of "surge sustained" events while a
	// surge's signals hold. Zero means DefaultSustainEvery (1m).
	SustainEvery time.Duration
	// OnEvent, if not nil, is called with each event, in order, from the
	// goroutine that evaluates (Start's loop, or the caller of
	// EvaluateAt): never on a request's path. A slow hook delays later
	// evaluations, not requests; hand slow work (a Webhook) off.
	OnEvent func(Event)
	// Logger, if not nil, logs each event: "surge started" and "surge
	// sustained" at Warn, "surge ended" at Info, with the signals.
	Logger *slog.Logger
}

// State is a Detector's state.
type State int8

const (
	// Calm: no surge.
	Calm State = iota
	// Surging: a surge started and has not ended.
	Surging
)

// String returns "calm" or "surging".
func (s State) String() string {
	if s == Surging {
		return "surging"
	}
	return "calm"
}

// MarshalText returns s's String form.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// EventKind is the kind of a surge Event.
type EventKind int8

const (
	// Started: the signals held for StartAfter.
	Started EventKind = iota + 1
	// Sustained: the surge's signals still hold, SustainEvery after the
	// start or the last Sustained.
	Sustained
	// Ended: the signals were quiet for Cooldown.
	Ended
)

// String returns "surge started", "surge sustained" or "surge ended".
func (k EventKind) String() string {
	switch k {
	case Started:
		return "surge started"
	case Sustained:
		return "surge sustained"
	case Ended:
		return "surge ended"
	}
	return fmt.Sprintf("EventKind(%d)", int8(k))
}

// MarshalText returns k's String form.
func (k EventKind) MarshalText() ([]byte, error) {
	if k < Started || k > Ended {
		return nil, fmt.Errorf("surge: unknown event kind %d", int8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses k's String form.
func (k *EventKind) UnmarshalText(b []byte) error {
	for _, c := range []EventKind{Started, Sustained, Ended} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("surge: unknown event %q", b)
}

// Signals are the inputs a Detector decides on, as of its last evaluation.
type Signals struct {
	// ShortRate and LongRate are the arrival rates, requests per second,
	// over the short and long windows; RateRatio is their ratio (0 while
	// LongRate is 0).
	ShortRate float64 `json:"short_rate"`
	LongRate  float64 `json:"long_rate"`
	RateRatio float64 `json:"rate_ratio"`
	// ShedRate is the short-window rate of shed requests, per second.
	ShedRate float64 `json:"shed_rate"`
	// Pressure is offered over admitted load, ShortRate / (ShortRate -
	// ShedRate), at most 100: 1 when everything is served, 2 when half is
	// shed. Times
	// the serving capacity it estimates the capacity needed, which makes
	// it the metric to give an autoscaler (see the package doc).
	Pressure float64 `json:"pressure"`
	// LatencyRatio is the limiter's last window mean latency over its
	// no-load latency (0 until both are known, and when nothing arrived
	// since the previous evaluation).
	LatencyRatio float64 `json:"latency_ratio"`
	// Queued, Limit and InFlight are the limiter's, at the evaluation.
	Queued   int `json:"queued"`
	Limit    int `json:"limit"`
	InFlight int `json:"in_flight"`
}

// Event is a change in a Detector's surge state. Its JSON form, which a
// Webhook posts, is {"event": "surge started", "at": ..., "since": ...,
// "signals": {"short_rate": ..., ...}}.
type Event struct {
	Kind EventKind `json:"event"`
	// At is when the detector noticed it; Since is when the surge started
	// (equal to At for Started).
	At    time.Time `json:"at"`
	Since time.Time `json:"since"`
	// Signals are the signals at At.
	Signals Signals `json:"signals"`
}

// DetectorStats is a snapshot of a Detector. It marshals to JSON for an
// admin page: {"state": "surging", "since": ..., "signals": {...},
// "started": 1, ...}.
type DetectorStats struct {
	State State `json:"state"`
	// Since is when the current state began (zero before the first
	// evaluation).
	Since time.Time `json:"since"`
	// Signals as of the last evaluation.
	Signals Signals `json:"signals"`
	// Started, Sustained and Ended count the events emitted.
	Started   uint64 `json:"started"`
	Sustained uint64 `json:"sustained"`
	Ended     uint64 `json:"ended"`
}

// Detector watches a Limiter's arrivals, sheds, queue and latency for
// surges: a short-window arrival rate well above the long-window one,
// requests shed, a standing queue, or latency well above the no-load
// latency. It reports "surge started" once a signal has held for
// StartAfter, "surge sustained" every SustainEvery while one holds, and
// "surge ended" once all have been quiet for Cooldown, so that one spike
// gives one start and one end. Its thresholds to end are below those to
// start (hysteresis): a rate ratio below half-way between 1 and RateRatio,
// a latency ratio below half-way between 1 and LatencyRatio, at most half
// of ShedFraction shed, and no queue.
//
// The engine is EvaluateAt, which tests and simulations call with their
// own times; Start runs it every Interval on a goroutine that Close stops.
// Detector is safe for concurrent use and must not be copied.
type Detector struct {
	l   *Limiter
	cfg DetectorConfig

	// mu guards the evaluation state.
	mu         sync.Mutex
	seeded     bool
	last       time.Time
	arrivals   uint64
	sheds      uint64
	short      float64
	long       float64
	shedShort  float64
	sig        Signals
	state      State
	since      time.Time
	hotSince   time.Time // zero when no signal holds
	quietSince time.Time // zero unless surging and every signal is quiet
	lastEmit   time.Time // last Started or Sustained
	counts     [3]uint64

	// lifecycle of Start's goroutine
	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// NewDetector returns a Detector watching l. It starts nothing; call Start
// for the evaluation loop, or EvaluateAt yourself. It returns an error for
// a nil limiter or an invalid configuration.
func NewDetector(l *Limiter, cfg DetectorConfig) (*Detector, error) {
	if l == nil {
		return nil, errors.New("surge: detector needs a limiter")
	}
	c := cfg
	c.Interval = cmp.Or(c.Interval, DefaultInterval)
	c.ShortWindow = cmp.Or(c.ShortWindow, DefaultShortWindow)
	c.LongWindow = cmp.Or(c.LongWindow, DefaultLongWindow)
	c.RateRatio = cmp.Or(c.RateRatio, DefaultRateRatio)
	c.MinRate = cmp.Or(c.MinRate, DefaultMinRate)
	c.LatencyRatio = cmp.Or(c.LatencyRatio, DefaultLatencyRatio)
	c.ShedFraction = cmp.Or(c.ShedFraction, DefaultShedFraction)
	c.StartAfter = cmp.Or(c.StartAfter, DefaultStartAfter)
	c.Cooldown = cmp.Or(c.Cooldown, DefaultCooldown)
	c.SustainEvery = cmp.Or(c.SustainEvery, DefaultSustainEvery)
	switch {
	case c.Interval < 0 || c.ShortWindow < 0 || c.LongWindow < 0 || c.StartAfter < 0 || c.Cooldown < 0 || c.SustainEvery < 0:
		return nil, errors.New("surge: detector durations must not be negative")
	case c.ShortWindow >= c.LongWindow:
		return nil, fmt.Errorf("surge: ShortWindow %v must be shorter than LongWindow %v", c.ShortWindow, c.LongWindow)
	case !(c.RateRatio > 1) || !(c.LatencyRatio > 1) || math.IsInf(c.RateRatio, 0) || math.IsInf(c.LatencyRatio, 0):
		return nil, errors.New("surge: RateRatio and LatencyRatio must be finite and above 1")
	case !(c.MinRate >= 0) || math.IsInf(c.MinRate, 0):
		return nil, errors.New("surge: MinRate must be finite and not negative")
	case !(c.ShedFraction > 0 && c.ShedFraction <= 1):
		return nil, errors.New("surge: ShedFraction must be in (0, 1]")
	}
	return &Detector{l: l, cfg: c}, nil
}

// ewma moves avg toward x by the weight of dt in an exponential average
// with time constant tau.
func ewma(avg, x float64, dt, tau time.Duration) float64 {
	a := 1 - math.Exp(-float64(dt)/float64(tau))
	return avg + (x-avg)*a
}

// EvaluateAt samples the limiter at now, updates the signals and the
// state, and returns the event it caused, if any (ok false otherwise),
// after passing it to OnEvent and the Logger. Calls must come with
// non-decreasing times; a call at or before the last one changes nothing.
// The first call only takes the reference counts.
func (d *Detector) EvaluateAt(now time.Time) (ev Event, ok bool) {
	d.mu.Lock()
	ev, ok = d.evaluateLocked(now)
	d.mu.Unlock()
	if ok {
		d.emit(ev)
	}
	return ev, ok
}

// Evaluate is EvaluateAt at the current time.
func (d *Detector) Evaluate() (Event, bool) { return d.EvaluateAt(time.Now()) }

func (d *Detector) evaluateLocked(now time.Time) (Event, bool) {
	st := d.l.Stats()
	if !d.seeded {
		d.seeded, d.last, d.since = true, now, now
		d.arrivals, d.sheds = st.Arrivals, st.Shed
		return Event{}, false
	}
	dt := now.Sub(d.last)
	if dt <= 0 {
		return Event{}, false
	}
	prevArrivals := d.arrivals
	rate := float64(st.Arrivals-d.arrivals) / dt.Seconds()
	shed := float64(st.Shed-d.sheds) / dt.Seconds()
	d.last, d.arrivals, d.sheds = now, st.Arrivals, st.Shed
	if d.long == 0 && d.short == 0 {
		d.long, d.short = rate, rate // the first traffic seen is the reference, not a surge
	} else {
		d.short = ewma(d.short, rate, dt, d.cfg.ShortWindow)
		d.long = ewma(d.long, rate, dt, d.cfg.LongWindow)
	}
	d.shedShort = ewma(d.shedShort, shed, dt, d.cfg.ShortWindow)
	s := Signals{ShortRate: d.short, LongRate: d.long, ShedRate: d.shedShort, Pressure: 1,
		Queued: st.Queued, Limit: st.Limit, InFlight: st.InFlight}
	if d.long > 0 {
		s.RateRatio = d.short / d.long
	}
	if d.shedShort > 0 {
		s.Pressure = maxPressure
		if served := d.short - d.shedShort; served*maxPressure > d.short {
			s.Pressure = d.short / served
		}
	}
	// The limiter's latency is that of its last closed window: without
	// arrivals since the last evaluation it may be old news, and a surge
	// must be able to end when the traffic stops altogether.
	if st.Baseline > 0 && st.Latency > 0 && st.Arrivals > prevArrivals {
		s.LatencyRatio = float64(st.Latency) / float64(st.Baseline)
	}
	d.sig = s

	// Shedding counts as it happens in this interval: the smoothed
	// ShedRate decays for minutes after a burst and would hold a surge
	// long after the shedding stopped.
	c := d.cfg
	hot := (s.ShortRate >= c.MinRate && s.RateRatio >= c.RateRatio) ||
		s.LatencyRatio >= c.LatencyRatio ||
		(shed > 0 && shed >= c.ShedFraction*rate) ||
		s.Queued > 0
	quiet := !(s.ShortRate >= c.MinRate && s.RateRatio >= (1+c.RateRatio)/2) &&
		s.LatencyRatio < (1+c.LatencyRatio)/2 &&
		shed <= c.ShedFraction*rate/2 && s.Queued == 0
	if !hot {
		d.hotSince = time.Time{}
	} else if d.hotSince.IsZero() {
		d.hotSince = now
	}
	switch d.state {
	case Calm:
		if hot && now.Sub(d.hotSince) >= c.StartAfter {
			d.state, d.since, d.lastEmit, d.quietSince = Surging, now, now, time.Time{}
			return d.event(Started, now), true
		}
	case Surging:
		if !quiet {
			d.quietSince = time.Time{}
			if hot && now.Sub(d.lastEmit) >= c.SustainEvery {
				d.lastEmit = now
				return d.event(Sustained, now), true
			}
			return Event{}, false
		}
		if d.quietSince.IsZero() {
			d.quietSince = now
		}
		if now.Sub(d.quietSince) >= c.Cooldown {
			ev := d.event(Ended, now)
			d.state, d.since, d.hotSince = Calm, now, time.Time{}
			return ev, true
		}
	}
	return Event{}, false
}

func (d *Detector) event(k EventKind, now time.Time) Event {
	d.counts[k-1]++
	return Event{Kind: k, At: now, Since: d.since, Signals: d.sig}
}

// emit hands ev to the logger and the hook.
func (d *Detector) emit(ev Event) {
	if lg := d.cfg.Logger; lg != nil {
		lvl := slog.LevelWarn
		if ev.Kind == Ended {
			lvl = slog.LevelInfo
		}
		s := ev.Signals
		lg.Log(context.Background(), lvl, ev.Kind.String(),
			"since", ev.Since, "rate", round2(s.ShortRate), "long_rate", round2(s.LongRate),
			"shed_rate", round2(s.ShedRate), "pressure", round2(s.Pressure),
			"latency_ratio", round2(s.LatencyRatio), "queued", s.Queued,
			"limit", s.Limit, "in_flight", s.InFlight)
	}
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(ev)
	}
}

// maxPressure caps Signals.Pressure when almost nothing is served.
const maxPressure = 100

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Limiter returns the limiter d watches, for a caller (a metrics
// collector, an admin page) that was handed only d.
func (d *Detector) Limiter() *Limiter { return d.l }

// Stats returns the state and the signals as of the last evaluation.
func (d *Detector) Stats() DetectorStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DetectorStats{State: d.state, Since: d.since, Signals: d.sig,
		Started: d.counts[0], Sustained: d.counts[1], Ended: d.counts[2]}
}

// Start starts a goroutine that calls EvaluateAt with the current time
// every Interval, until Close. Calling it again, or after Close, does
// nothing.
func (d *Detector) Start() {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	if d.done != nil || d.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go d.loop(ctx, d.done)
}

func (d *Detector) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	d.Evaluate()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Evaluate()
		}
	}
}

// Close stops Start's goroutine and waits for it to return. It is
// idempotent and always returns nil.
func (d *Detector) Close() error {
	d.runMu.Lock()
	d.closed = true
	cancel, done := d.cancel, d.done
	d.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}
