package validate

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestStatsCountEachVerdict(t *testing.T) {
	v := newShop(t, Config{})
	h := Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	want := Stats{}
	for _, tc := range shopCases() {
		h.ServeHTTP(httptest.NewRecorder(), tc.q.build())
		want.Requests++
		switch tc.status {
		case 400:
			want.Invalid++
		case 401, 403:
			want.Unauthorized++
		case 404, 405:
			want.Unknown++
		case 413:
			want.TooLarge++
		case 415:
			want.UnsupportedMediaType++
		}
	}
	if got := v.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}
