package surge

import (
	"math"
	"time"
)

// A window closes after Window once it holds minSamples samples, or after
// maxWindows Windows with fewer: a few samples say little about latency.
const (
	minSamples = 10
	maxWindows = 10
)

// Smoothing of the controller's estimates, per window.
const (
	baselineDown   = 0.5  // a lower mean pulls the no-load baseline down this fast
	baselineLow    = 0.25 // low-load samples pull the baseline either way this fast
	gradientSmooth = 0.2  // weight of Gradient's new target in the limit
	gradientFloor  = 0.5  // the most Gradient's target may cut the limit by
)

// closeWindow ends the sampling window if it is due and moves the limit.
// Only one release at a time gets here (TryLock); the others go on.
func (l *Limiter) closeWindow(now time.Time) {
	if !l.mu.TryLock() {
		return
	}
	defer l.mu.Unlock()
	n := l.ns(now)
	end := l.winEnd.Load()
	if n < end {
		return // another release closed it meanwhile
	}
	if end == math.MinInt64 { // the first release: open the first window
		l.winStart = n
		l.winEnd.Store(n + l.window)
		return
	}
	if l.winN.Load()+l.winDrops.Load() < minSamples && n < l.winStart+maxWindows*l.window {
		l.winEnd.Store(n + l.window) // look again in a window, not at every release
		return
	}
	sum, succ, drops := l.winSum.Swap(0), l.winN.Swap(0), l.winDrops.Swap(0)
	low, lowN := l.winLow.Swap(0), l.winLowN.Swap(0)
	peak := l.winPeak.Swap(l.inflight.Load())
	l.winStart = n
	l.winEnd.Store(n + l.window)
	if succ == 0 && drops == 0 {
		return
	}
	l.adjust(sum, succ, drops, low, lowN, peak)
	l.limit.Store(int64(l.est))
	if l.waiting.Load() > 0 {
		l.handOff() // the limit may have grown
	}
}

// adjust updates the no-load baseline and the limit estimate from one
// window: the latency sum and count of its successes, its drops, the
// latency sum and count of the successes admitted under low load, and the
// most requests that were in flight. l.mu must be held.
func (l *Limiter) adjust(sum, succ, drops, low, lowN, peak int64) {
	mean := 0.0
	if succ > 0 {
		mean = float64(sum) / float64(succ)
		l.lastMean = mean
	}
	// The baseline is the mean latency the backends show without queueing.
	// Requests admitted while fewer than MinLimit were in flight measure
	// it; a window faster than the baseline also proves it too high. It
	// never rises from a loaded window, so a standing overload cannot
	// teach the limiter to accept its own queueing as normal (the upward
	// creep of estimators that track the recent mean). When the limit
	// sits at MinLimit every admission is a low-load one, so a backend
	// that really became slower is learnt there.
	if lowN > 0 {
		lm := float64(low) / float64(lowN)
		if l.baseline == 0 {
			l.baseline = lm
		} else {
			l.baseline += (lm - l.baseline) * baselineLow
		}
	}
	if succ > 0 {
		switch {
		case l.baseline == 0:
			l.baseline = mean
		case mean < l.baseline:
			l.baseline += (mean - l.baseline) * baselineDown
		}
	}
	// A slow window counts as queueing only when at least half the limit
	// was in use: with few requests in flight the slowness (a pause, a
	// hiccup of the backend) is not of the limiter's making, and lowering
	// a limit nobody uses would only shed the next burst. Drops lower the
	// limit whatever the use.
	used := float64(peak) >= l.est/2
	queueing := used && succ > 0 && mean > l.tol*l.baseline
	switch l.algo {
	case AIMD:
		switch {
		case drops > 0 || queueing:
			l.est *= l.backoff
		case used && mean <= l.baseline*(1+l.tol)/2:
			l.est += max(1, math.Sqrt(l.est)) // far from queueing: grow fast
		case used:
			l.est++
		}
	case Gradient:
		g := 1.0
		if used && succ > 0 {
			g = min(max(l.tol*l.baseline/mean, gradientFloor), 1)
		}
		if drops > 0 {
			g = min(g, l.backoff)
		}
		target := l.est * g
		if g >= 1 && used {
			target += math.Sqrt(l.est)
		}
		l.est += (target - l.est) * gradientSmooth
	}
	l.est = min(max(l.est, l.min), l.max)
}
