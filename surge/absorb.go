package surge

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

// AbsorbAt adds ups to pool in one call and starts each new target's
// slow start at now, so that capacity added by a scale-out takes traffic
// gradually instead of a full share while it is cold. Either every
// upstream is added or none is: on an invalid or duplicate upstream, the
// ones already added are removed again and the error is returned. ss is
// required and must pick from pool (the pool's policy wrapped by
// balancer.NewSlowStart); AbsorbAt checks it.
//
// The pool has no batch insert, so the targets appear in it one after
// another within the call; each starts its ramp as it appears (the slow
// start also notices new targets on its own at the next pick).
func AbsorbAt(pool *balancer.Pool, ss *balancer.SlowStart, ups []balancer.Upstream, now time.Time) ([]*balancer.Target, error) {
	if pool == nil || ss == nil {
		return nil, errors.New("surge: absorbing capacity needs a pool and its slow start")
	}
	if balancer.PoolOf(ss) != pool {
		return nil, errors.New("surge: the slow start does not pick from the pool")
	}
	added := make([]*balancer.Target, 0, len(ups))
	for _, up := range ups {
		t, err := pool.Add(up)
		if err != nil {
			for _, a := range added {
				pool.Remove(a.URL())
			}
			return nil, fmt.Errorf("surge: absorb: %w", err)
		}
		// Start the ramp at now rather than at the next pick, which
		// would start it at that pick's clock.
		ss.StartAt(t, now)
		added = append(added, t)
	}
	return added, nil
}

// Absorb is AbsorbAt at the current time.
func Absorb(pool *balancer.Pool, ss *balancer.SlowStart, ups []balancer.Upstream) ([]*balancer.Target, error) {
	return AbsorbAt(pool, ss, ups, time.Now())
}
