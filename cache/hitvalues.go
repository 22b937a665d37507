package cache

import (
	"strconv"
	"sync/atomic"
)

// hitSeconds bounds the ages and ttls whose field values hitValues keeps:
// a little over an hour.
const hitSeconds = 4096

// hitValues are the Age and Cache-Status field values that hits write,
// one single-element slice per whole second, made on first use and then
// shared by every response that needs the same one, so that a hit
// formats and allocates none. They are never modified: as with the
// stored header's slices, a handler may replace or append to them
// (their capacity equals their length, so an append copies) but must not
// assign to an element in place. Values outside [0, hitSeconds) are made
// per call. It is safe for concurrent use.
type hitValues struct {
	ages     [hitSeconds]atomic.Pointer[[]string] // Age: "<n>"
	statuses [hitSeconds]atomic.Pointer[[]string] // Cache-Status: "<name>; hit; ttl=<n>"
}

// age returns the Age field value for sec seconds.
func (v *hitValues) age(sec int64) []string {
	return sharedValue(&v.ages, sec, "", "")
}

// status returns the Cache-Status field value of a fresh hit by the cache
// name with ttl seconds of freshness left. A Cache's name never changes.
func (v *hitValues) status(name string, ttl int64) []string {
	return sharedValue(&v.statuses, ttl, name, "; hit; ttl=")
}

// sharedValue returns the field value name+sep+n from tab, made and kept
// there on first use while n is within [0, hitSeconds).
func sharedValue(tab *[hitSeconds]atomic.Pointer[[]string], n int64, name, sep string) []string {
	kept := n >= 0 && n < hitSeconds
	if kept {
		if p := tab[n].Load(); p != nil {
			return *p
		}
	}
	s := []string{name + sep + strconv.FormatInt(n, 10)}
	if kept {
		tab[n].Store(&s) // a concurrent first use stores an equal value
	}
	return s
}
