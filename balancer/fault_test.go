package balancer

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultBackend is an httptest server that logs the X-Req-ID of every
// request it receives (with the body it read) and then behaves as mode
// says. Responses carry X-Backend and echo the request ID.
type faultBackend struct {
	*httptest.Server
	name string
	mode atomic.Value // faultMode

	mu       sync.Mutex
	arrivals map[string]int    // X-Req-ID -> count
	bodies   map[string]string // X-Req-ID -> last body read
	total    atomic.Int64
}

type faultMode string

const (
	modeOK       faultMode = "ok"       // 200, body "<name>:<id>"
	modeReset    faultMode = "reset"    // read the request (and body), then RST
	mode503      faultMode = "503"      // 503 answer
	modeResetRaw faultMode = "resetraw" // RST before reading the body
	modeFIN      faultMode = "fin"      // read the request, close without answering
)

func newFaultBackend(t testing.TB, name string, mode faultMode) *faultBackend {
	t.Helper()
	fb := &faultBackend{name: name, arrivals: map[string]int{}, bodies: map[string]string{}}
	fb.mode.Store(mode)
	fb.Server = httptest.NewServer(http.HandlerFunc(fb.serve))
	t.Cleanup(fb.Close)
	return fb
}

func (fb *faultBackend) setMode(m faultMode) { fb.mode.Store(m) }

func (fb *faultBackend) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Req-ID")
	mode := fb.mode.Load().(faultMode)
	var body []byte
	if mode != modeResetRaw {
		body, _ = io.ReadAll(r.Body)
	}
	fb.mu.Lock()
	fb.arrivals[id]++
	fb.bodies[id] = string(body)
	fb.mu.Unlock()
	fb.total.Add(1)
	switch mode {
	case modeReset, modeResetRaw:
		resetConn(w)
	case modeFIN:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	case mode503:
		w.Header().Set("X-Backend", fb.name)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.Header().Set("X-Backend", fb.name)
		io.WriteString(w, fb.name+":"+id)
	}
}

// resetConn hijacks the connection behind w and closes it with RST.
func resetConn(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (fb *faultBackend) count(id string) int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.arrivals[id]
}

func (fb *faultBackend) body(id string) string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.bodies[id]
}

// deadAddr returns the URL of a loopback port nobody listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// rawBackend serves each accepted connection with handle, on its own
// goroutine; it closes the listener and waits for handlers on cleanup.
func rawBackend(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// reqID returns a unique request ID for test request i.
func reqID(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
