package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestEntryMarshalRoundTrip(t *testing.T) {
	e := &Entry{Variants: []*Response{{Status: 203, Header: http.Header{"A": {"1", "2"}}, Body: []byte("b"),
		Vary: []string{"Accept"}, VaryValues: "x", Tags: []string{"t"}, ResponseTime: t0, Lifetime: time.Minute, StaleIfError: -1}}}
	data, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Entry
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	v := got.Variants[0]
	if v.Status != 203 || string(v.Body) != "b" || v.Header.Get("A") != "1" || cap(v.Header["A"]) != 2 || !v.ResponseTime.Equal(t0) ||
		v.Lifetime != time.Minute || v.StaleIfError != -1 || v.VaryValues != "x" || v.Tags[0] != "t" {
		t.Fatalf("round trip: %+v", v)
	}
	if err := got.UnmarshalBinary([]byte("garbage")); err == nil {
		t.Fatal("UnmarshalBinary(garbage) succeeded")
	}
}

// TestUnmarshalRejectsBadStatus: a corrupt shared entry (Redis) whose
// status WriteHeader would panic on is undecodable, hence a miss.
func TestUnmarshalRejectsBadStatus(t *testing.T) {
	for _, status := range []int{-1, 0, 99, 1000, 1 << 20, 200, 999} {
		e := &Entry{Variants: []*Response{{Status: status, Header: http.Header{}}}}
		data, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Entry
		err = got.UnmarshalBinary(data)
		if ok := status >= 200 && status <= 999; (err == nil) != ok {
			t.Errorf("status %d: UnmarshalBinary error %v, want error %v", status, err, !ok)
		}
	}
}
