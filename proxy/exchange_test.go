package proxy

import (
	"context"
	"testing"
	"time"
)

func TestExchangeAttemptContexts(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		deadline time.Time
		cancel   bool // cancel the inbound context
		want     error
	}{
		{"live", now.Add(time.Hour), false, nil},
		{"no deadline", time.Time{}, false, nil},
		{"deadline passed", now.Add(-time.Second), false, context.DeadlineExceeded},
		{"inbound canceled", now.Add(time.Hour), true, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, cancel := context.WithCancel(context.Background())
			defer cancel()
			x := &exchange{Context: in, deadline: tt.deadline}
			x.base = x
			first := x.newAttempt(time.Now())
			if got, _ := TargetFrom(first); got != nil {
				t.Fatalf("TargetFrom = %v, want the exchange's nil target", got)
			}
			if d, ok := first.Deadline(); ok != !tt.deadline.IsZero() || ok && !d.Equal(tt.deadline) {
				t.Errorf("attempt deadline = %v, %v, want %v", d, ok, tt.deadline)
			}
			x.cancelAttempt() // a stopped re-send: the request lives on
			if first.Err() == nil {
				t.Error("cancelled attempt context still live")
			}
			second := x.newAttempt(time.Now())
			if tt.cancel {
				cancel()
			}
			if err := x.ctxErr(); err != tt.want {
				t.Errorf("ctxErr() = %v, want %v", err, tt.want)
			}
			if tt.want == nil && second.Err() != nil {
				t.Errorf("second attempt context ended: %v", second.Err())
			}
			x.cancelAll()
			if second.Err() == nil {
				t.Error("cancelAll left the current attempt live")
			}
		})
	}
}
