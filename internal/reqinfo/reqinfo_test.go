package reqinfo

import (
	"context"
	"testing"
)

func TestInfoTravelsInTheContext(t *testing.T) {
	if got := FromContext(context.Background()); got != nil {
		t.Fatalf("FromContext(Background) = %+v, want nil", got)
	}
	info := &Info{}
	ctx := NewContext(context.Background(), info)
	FromContext(ctx).Rule = "api"
	if info.Rule != "api" {
		t.Errorf("a stage's write did not reach the outer Info: %+v", info)
	}
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	if FromContext(child) != info {
		t.Error("a derived context lost the Info")
	}
}
