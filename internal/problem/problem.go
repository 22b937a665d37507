// Package problem writes RFC 9457 application/problem+json error responses.
//
// Every gatekit package answers client errors through this package so that
// all of them share one shape: a JSON object with "type", "title", "status"
// and, where useful, "detail" and extension members. Details written here
// must never contain internal error text or unbounded client input.
package problem

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strconv"
)

// StatusClientClosedRequest is the status that logs, access logs and
// metrics record for a request whose client went away before the response
// (nginx's 499). It is never written to a client: the client is gone.
const StatusClientClosedRequest = 499

// ContentType is the media type of a problem details document.
const ContentType = "application/problem+json"

// Details is an RFC 9457 problem details object. The zero Type means
// "about:blank", in which case Title should be the status text.
type Details struct {
	// Type is a URI reference identifying the problem type. Empty means "about:blank".
	Type string
	// Title is a short, human-readable summary of the problem type.
	// Empty means http.StatusText(Status).
	Title string
	// Status is the HTTP status code. Zero means 500.
	Status int
	// Detail is a human-readable explanation specific to this occurrence.
	// It must not contain internal error text or unbounded client input.
	Detail string
	// Instance is a URI reference identifying this occurrence, such as a request ID.
	Instance string
	// Extensions are additional members, marshalled with encoding/json.
	// Keys that collide with the standard members are ignored.
	Extensions map[string]any
}

// MarshalJSON encodes d as a problem details object with its extension members.
func (d Details) MarshalJSON() ([]byte, error) {
	status := cmp.Or(d.Status, http.StatusInternalServerError)
	m := make(map[string]any, 5+len(d.Extensions))
	for k, v := range d.Extensions {
		m[k] = v
	}
	typ := cmp.Or(d.Type, "about:blank")
	title := cmp.Or(d.Title, http.StatusText(status))
	m["type"] = typ
	m["title"] = title
	m["status"] = status
	if d.Detail != "" {
		m["detail"] = d.Detail
	} else {
		delete(m, "detail")
	}
	if d.Instance != "" {
		m["instance"] = d.Instance
	} else {
		delete(m, "instance")
	}
	return json.Marshal(m)
}

// Write writes a problem response with the given status and detail, the
// title being the status text. It is the common case of WriteDetails.
func Write(w http.ResponseWriter, status int, detail string) {
	WriteDetails(w, Details{Status: status, Detail: detail})
}

// WriteDetails writes d as the whole response: it sets Content-Type,
// Content-Length and X-Content-Type-Options, then the status and the body.
// Headers already set on w (Retry-After, Allow, ...) are kept. It must be
// called before anything else was written to w.
func WriteDetails(w http.ResponseWriter, d Details) {
	d.Status = cmp.Or(d.Status, http.StatusInternalServerError)
	body, err := json.Marshal(d)
	if err != nil {
		// An extension did not marshal: fall back to the standard members only.
		d.Extensions = nil
		body, _ = json.Marshal(d)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(d.Status)
	_, _ = w.Write(body)
}
