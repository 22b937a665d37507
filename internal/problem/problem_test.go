package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteSendsProblemJSON(t *testing.T) {
	tests := []struct {
		name   string
		d      Details
		status int
		want   map[string]any
	}{
		{"defaults", Details{}, 500, map[string]any{"type": "about:blank", "title": "Internal Server Error", "status": 500.0}},
		{"detail", Details{Status: 404, Detail: "no route"}, 404, map[string]any{"type": "about:blank", "title": "Not Found", "status": 404.0, "detail": "no route"}},
		{"extensions cannot override", Details{Status: 400, Extensions: map[string]any{"status": 200, "errors": []string{"x"}, "type": "evil"}}, 400,
			map[string]any{"type": "about:blank", "title": "Bad Request", "status": 400.0, "errors": []any{"x"}}},
		{"unmarshalable extension", Details{Status: 400, Extensions: map[string]any{"f": func() {}}}, 400,
			map[string]any{"type": "about:blank", "title": "Bad Request", "status": 400.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("Retry-After", "3")
			WriteDetails(rec, tc.d)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != ContentType {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Header().Get("Retry-After") != "3" {
				t.Errorf("Retry-After lost")
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("body = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				gb, _ := json.Marshal(got[k])
				wb, _ := json.Marshal(v)
				if string(gb) != string(wb) {
					t.Errorf("%s = %s, want %s", k, gb, wb)
				}
			}
		})
	}
}

func TestWriteWithoutDetailIsNotCached(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusBadGateway, "")
	if rec.Code != 502 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
}
