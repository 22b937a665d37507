package admin

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/gatekit/gatekit/internal/problem"
)

// purgeRequest is the body of POST /api/cache/purge: the cache's name and
// exactly one of URL (one resource, every Vary variant), Prefix (every
// URL starting with it, such as "https://example.com/api/") or Tag.
type purgeRequest struct {
	Cache  string `json:"cache"`
	URL    string `json:"url"`
	Prefix string `json:"prefix"`
	Tag    string `json:"tag"`
}

// tlsMarker marks a synthesized request as https for the cache key.
var tlsMarker = &tls.ConnectionState{}

func (h *Handler) purge(w http.ResponseWriter, r *http.Request) {
	if err := h.authorized(r); err != nil {
		if h.cfg.Logger != nil {
			h.cfg.Logger.Warn("admin: purge refused", "reason", err.Error(), "remote", r.RemoteAddr)
		}
		if h.cfg.Token == "" {
			problem.Write(w, http.StatusForbidden, "purging is off: no admin token is configured")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatekit-admin"`)
		problem.Write(w, http.StatusUnauthorized, "a valid bearer token is required")
		return
	}
	var req purgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem.Write(w, http.StatusBadRequest, "the body must be a JSON object with cache and one of url, prefix or tag")
		return
	}
	c, ok := h.cfg.Caches[req.Cache]
	if !ok {
		problem.Write(w, http.StatusNotFound, "no cache of that name")
		return
	}
	n := 0
	for _, s := range []string{req.URL, req.Prefix, req.Tag} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		problem.Write(w, http.StatusBadRequest, "exactly one of url, prefix or tag is required")
		return
	}
	var purged int
	switch {
	case req.URL != "":
		u, err := url.Parse(req.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			problem.Write(w, http.StatusBadRequest, "url must be an absolute http or https URL")
			return
		}
		gr, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			problem.Write(w, http.StatusBadRequest, "url must be an absolute http or https URL")
			return
		}
		if u.Scheme == "https" {
			gr.TLS = tlsMarker
		}
		if c.Purge(r.Context(), c.Key(gr)) {
			purged = 1
		}
	case req.Prefix != "":
		purged = c.PurgePrefix(r.Context(), req.Prefix)
	default:
		purged = c.PurgeTag(r.Context(), req.Tag)
	}
	if h.cfg.Logger != nil {
		h.cfg.Logger.Info("admin: cache purged", "cache", req.Cache, "url", req.URL, "prefix", req.Prefix, "tag", req.Tag, "purged", purged)
	}
	writeJSON(w, http.StatusOK, map[string]int{"purged": purged})
}
