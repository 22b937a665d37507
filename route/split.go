package route

import (
	"github.com/gatekit/gatekit/internal/reqinfo"

	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/gatekit/gatekit/internal/header"
)

// Availability is the optional interface of a Split backend's Handler that
// knows whether it can serve now, such as a proxy whose pool has a target
// that may be picked. A split skips a backend whose Available reports
// false while another backend with a positive weight can serve, as if its
// weight were zero, and sends the request to the backend it first chose
// only when none can. Available is called once per split request for the
// backend chosen first (and, when that one cannot serve, for the others),
// so it must be cheap and safe for concurrent use.
type Availability interface {
	Available() bool
}

// split chooses a backend by weight.
type split struct {
	names    []string
	handlers []http.Handler
	avail    []Availability // nil where the handler does not implement it
	weights  []uint64
	cum      []uint64 // cumulative weights
	key      func(*http.Request) string
	header   string // response header naming the backend, "" for none
}

func newSplit(bs []Backend, key func(*http.Request) string, hdr string) (*split, error) {
	if hdr != "" && !header.IsToken(hdr) {
		return nil, fmt.Errorf("invalid SplitHeader %q", hdr)
	}
	s := &split{key: key, header: http.CanonicalHeaderKey(hdr)}
	var total uint64
	for i, b := range bs {
		if b.Handler == nil {
			return nil, fmt.Errorf("Split[%d] has no Handler", i)
		}
		if b.Weight < 0 {
			return nil, fmt.Errorf("Split[%d] has a negative weight", i)
		}
		total += uint64(b.Weight)
		s.names = append(s.names, cmp.Or(b.Name, "#"+strconv.Itoa(i)))
		s.handlers = append(s.handlers, b.Handler)
		av, _ := b.Handler.(Availability)
		s.avail = append(s.avail, av)
		s.weights = append(s.weights, uint64(b.Weight))
		s.cum = append(s.cum, total)
	}
	if total == 0 {
		return nil, errors.New("Split needs a backend with a positive weight")
	}
	return s, nil
}

// pick returns the backend index for a point in [0, total).
func (s *split) pick(x uint64) int {
	for i, c := range s.cum {
		if x < c {
			return i
		}
	}
	return len(s.cum) - 1
}

func (s *split) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	total := s.cum[len(s.cum)-1]
	var x uint64
	if k := s.keyOf(r); k != "" {
		x = fnv64a(k) % total
	} else {
		x = rand.Uint64N(total)
	}
	i := s.pick(x)
	if av := s.avail[i]; av != nil && !av.Available() {
		i = s.fallback(i, x)
	}
	if m, ok := FromContext(r.Context()); ok {
		m.Backend = s.names[i]
	}
	if info := reqinfo.From(w); info != nil {
		info.Backend = s.names[i]
	}
	if s.header != "" {
		w.Header()[s.header] = []string{s.names[i]}
	}
	s.handlers[i].ServeHTTP(w, r)
}

// fallback returns the backend for point x among those with a positive
// weight that can serve, other than skip; skip itself when none can. The
// same x keeps a keyed client on one fallback.
func (s *split) fallback(skip int, x uint64) int {
	var total uint64
	ok := func(i int) bool {
		return i != skip && s.weights[i] > 0 && (s.avail[i] == nil || s.avail[i].Available())
	}
	for i := range s.handlers {
		if ok(i) {
			total += s.weights[i]
		}
	}
	if total == 0 {
		return skip
	}
	x %= total
	for i := range s.handlers {
		if !ok(i) {
			continue
		}
		if x < s.weights[i] {
			return i
		}
		x -= s.weights[i]
	}
	return skip
}

func (s *split) keyOf(r *http.Request) string {
	if s.key == nil {
		return ""
	}
	return s.key(r)
}

// fnv64a is FNV-1a, stable across processes so that gateway instances agree.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
