package cache

import (
	"strconv"
	"sync/atomic"

	"github.com/gatekit/gatekit/internal/header"
)

// hitSeconds bounds the ages and ttls whose field values hitValues keeps:
// a little over an hour.
const hitSeconds = 4096

// hitValues are the Age and Cache-Status field values that hits write,
// one per whole second, made on first use and then shared by every
// response that needs the same one, so that a hit formats and allocates
// none. They are never modified: as with the stored header's slices, a
// handler may replace or append to a value slice (its capacity equals its
// length, so an append copies) but must not assign to an element in place.
// Values outside [0, hitSeconds) are made per call. It is safe for
// concurrent use.
type hitValues struct {
	ages     [hitSeconds]atomic.Pointer[hitValue] // Age: "<n>"
	statuses [hitSeconds]atomic.Pointer[hitValue] // Cache-Status: "<name>; hit; ttl=<n>"
}

// A hitValue is one field value as a header map holds it and as the line
// a header.PreparedWriter takes.
type hitValue struct {
	value []string
	line  string
}

// age returns the Age field value for sec seconds.
func (v *hitValues) age(sec int64) *hitValue {
	return sharedValue(&v.ages, sec, "Age", "", "")
}

// status returns the Cache-Status field value of a fresh hit by the cache
// name with ttl seconds of freshness left. A Cache's name never changes.
func (v *hitValues) status(name string, ttl int64) *hitValue {
	return sharedValue(&v.statuses, ttl, "Cache-Status", name, "; hit; ttl=")
}

// sharedValue returns the value name+sep+n of field from tab, made and
// kept there on first use while n is within [0, hitSeconds).
func sharedValue(tab *[hitSeconds]atomic.Pointer[hitValue], n int64, field, name, sep string) *hitValue {
	kept := n >= 0 && n < hitSeconds
	if kept {
		if p := tab[n].Load(); p != nil {
			return p
		}
	}
	s := name + sep + strconv.FormatInt(n, 10)
	v := &hitValue{value: []string{s}, line: header.Line(field, s)}
	if kept {
		tab[n].Store(v) // a concurrent first use stores an equal value
	}
	return v
}
