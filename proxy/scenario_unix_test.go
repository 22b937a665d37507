//go:build unix

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatekit/gatekit/balancer"
)

const childEnv = "GATEKIT_PROXY_CHILD_BACKEND"

// TestChildBackendProcess is not a test: run by startChildBackend in a
// child process (this test binary, re-executed), it serves HTTP on a
// loopback port, prints the address and blocks until killed.
func TestChildBackendProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process for TestFrozenBackendProcessRoutedAround")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "child")
	}))
}

// startChildBackend starts the child backend and returns its URL and
// process; cleanup thaws and kills it.
func startChildBackend(t *testing.T) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildBackendProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child backend: %v", err)
	}
	return "http://" + strings.TrimSpace(line), cmd.Process
}

// TestFrozenBackendProcessRoutedAround: a backend process frozen with SIGSTOP still completes TCP handshakes (the
// kernel fills the listen backlog) but never answers. GETs time out per
// try and move to the live backend; health checks take the frozen one out
// and bring it back after SIGCONT.
func TestFrozenBackendProcessRoutedAround(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	childURL, proc := startChildBackend(t)
	live := newFaultBackend(t, "live", modeOK)
	pool := poolOf(t, childURL, live.URL)
	o := newOutlier(t, pool, balancer.OutlierConfig{PanicThreshold: -1})
	changes := make(chan balancer.HealthState, 8)
	hc := newChecker(t, pool, balancer.HealthConfig{Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond,
		Fall: 3, Rise: 2, OnChange: func(tg *balancer.Target, s balancer.HealthState) {
			if tg.URL().String() == childURL {
				changes <- s
			}
		}})
	hc.Start()
	px := newTestProxy(t, o, Config{
		TransportConfig: TransportConfig{ResponseHeaderTimeout: 300 * time.Millisecond},
		Retry:           fastRetry(RetryConfig{}),
	})
	var errs atomic.Int64
	var sent atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Three clients: at most three timed-out tries wait for a retry at
	// once, within the budget's minimum of 3 concurrent retries.
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rec := serve(px, httptest.NewRequest("GET", "/", nil))
				sent.Add(1)
				if rec.Code != 200 {
					errs.Add(1)
					t.Logf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		}()
	}
	waitState := func(want balancer.HealthState, within time.Duration) {
		t.Helper()
		select {
		case s := <-changes:
			if s != want {
				t.Fatalf("frozen backend went %v, want %v", s, want)
			}
		case <-time.After(within):
			t.Fatalf("frozen backend not %v within %v", want, within)
		}
	}
	waitFor(2*time.Second, func() bool { return sent.Load() >= 20 }) // some traffic to both first
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitState(balancer.StateDown, 3*time.Second)
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitState(balancer.StateUp, 3*time.Second)
	stop()
	wg.Wait()
	if n := errs.Load(); n != 0 {
		t.Fatalf("%d of %d GETs failed while a backend was frozen", n, sent.Load())
	}
}
