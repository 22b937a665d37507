package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestInstancesShareTheLimit runs the example: the two instances together
// admit the shared burst of 10, not 10 each.
func TestInstancesShareTheLimit(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out, []string{"-requests", "30"}); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if !strings.Contains(out.String(), "apt-get install -y redis-server") {
			t.Errorf("without redis-server the output should say how to install it:\n%s", out.String())
		}
		t.Skip("redis-server not found; apt-get install -y redis-server")
	}
	if !strings.Contains(out.String(), "together 10 (the shared limit's burst is 10)") {
		t.Errorf("output:\n%s", out.String())
	}
	if strings.Count(out.String(), ": 429") != 20 {
		t.Errorf("want 20 rejections of 30:\n%s", out.String())
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-rate", "x"}, {"-requests", "0"}, {"-bogus"}} {
		if err := run(context.Background(), &strings.Builder{}, args); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
