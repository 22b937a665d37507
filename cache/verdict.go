package cache

import (
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/internal/reqinfo"
)

// recordVerdict notes, for the access log and metrics around the cache,
// how the cache answered: from its Cache-Status member's parameters, and
// whether the answer came from the store.
func recordVerdict(w http.ResponseWriter, params string, stored bool) {
	info := reqinfo.From(w)
	if info == nil {
		return
	}
	switch {
	case strings.Contains(params, "stale"):
		info.Cache = "stale"
	case stored && strings.Contains(params, "fwd-status=304"):
		info.Cache = "revalidated"
	case stored:
		info.Cache = "hit"
	case strings.Contains(params, "fwd=bypass") || strings.Contains(params, "fwd=method") || strings.Contains(params, "fwd=request"):
		info.Cache = "bypass"
	default:
		info.Cache = "miss"
	}
}
