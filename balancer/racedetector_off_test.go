//go:build !race

package balancer

// raceEnabled reports whether the race detector is on; allocation counts
// are not meaningful under it (sync.Pool drops items at random).
const raceEnabled = false
