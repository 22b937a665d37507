package balancer

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from a script that tests change between lookups.
type fakeResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	srv   []*net.SRV
	err   error
	calls int
}

func (f *fakeResolver) set(err error, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.addrs = err, nil
	for _, a := range addrs {
		f.addrs = append(f.addrs, netip.MustParseAddr(a))
	}
}

func (f *fakeResolver) lookupIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return slices.Clone(f.addrs), f.err
}

func (f *fakeResolver) lookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return "", f.srv, f.err
}

func poolIDs(p *Pool) []string {
	var ids []string
	for _, t := range p.Targets() {
		ids = append(ids, t.ID())
	}
	slices.Sort(ids)
	return ids
}

func TestDNSKeepsPoolInLineAndLastGoodSet(t *testing.T) {
	static := "http://static.internal:80"
	pool := poolOf(t, static)
	fr := &fakeResolver{}
	var removed []string
	d, err := NewDNS(pool, DNSConfig{Name: "api.internal", Port: 8080, LookupNetIP: fr.lookupIP,
		OnRemove: func(t *Target) { removed = append(removed, t.ID()) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name    string
		err     error
		addrs   []string
		want    []string
		removed []string
	}{
		{"first answer", nil, []string{"10.0.0.1", "10.0.0.2"},
			[]string{"http://10.0.0.1:8080", "http://10.0.0.2:8080", static}, nil},
		{"one replaced", nil, []string{"10.0.0.2", "10.0.0.3"},
			[]string{"http://10.0.0.2:8080", "http://10.0.0.3:8080", static}, []string{"http://10.0.0.1:8080"}},
		{"resolver fails: last good set kept", errors.New("SERVFAIL"), nil,
			[]string{"http://10.0.0.2:8080", "http://10.0.0.3:8080", static}, nil},
		{"empty answer: last good set kept", nil, nil,
			[]string{"http://10.0.0.2:8080", "http://10.0.0.3:8080", static}, nil},
		{"IPv6 and mapped IPv4", nil, []string{"2001:db8::1", "::ffff:10.0.0.3"},
			[]string{"http://10.0.0.3:8080", "http://[2001:db8::1]:8080", static}, []string{"http://10.0.0.2:8080"}},
	}
	for i, st := range steps {
		removed = nil
		fr.set(st.err, st.addrs...)
		now := t0.Add(time.Duration(i) * time.Minute)
		err := d.RefreshAt(ctx, now)
		if (err != nil) != (st.err != nil || len(st.addrs) == 0) {
			t.Fatalf("%s: RefreshAt = %v", st.name, err)
		}
		if got := poolIDs(pool); !slices.Equal(got, st.want) {
			t.Fatalf("%s: pool %v, want %v", st.name, got, st.want)
		}
		if !slices.Equal(removed, st.removed) {
			t.Fatalf("%s: removed %v, want %v", st.name, removed, st.removed)
		}
		ok, lerr := d.LastRefresh()
		if (lerr == nil) != (err == nil) || (err == nil && !ok.Equal(now)) {
			t.Fatalf("%s: LastRefresh = %v, %v", st.name, ok, lerr)
		}
	}
}

func TestDNSSRVRecordsGiveHostPortAndWeight(t *testing.T) {
	pool, _ := NewPool(nil)
	fr := &fakeResolver{srv: []*net.SRV{
		{Target: "a.example.", Port: 9000, Weight: 10},
		{Target: "b.example.", Port: 9001, Weight: 0},
		{Target: ".", Port: 0},
	}}
	d, err := NewDNS(pool, DNSConfig{Name: "svc.example", SRVService: "http", Scheme: "https", LookupSRV: fr.lookupSRV})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RefreshAt(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if got := poolIDs(pool); !slices.Equal(got, []string{"https://a.example:9000", "https://b.example:9001"}) {
		t.Fatalf("pool %v", got)
	}
	if a, _ := pool.Lookup("https://a.example:9000"); a.Weight() != 10 {
		t.Fatalf("SRV weight %d, want 10", a.Weight())
	}
	fr.mu.Lock()
	fr.srv[0].Weight = 3
	fr.mu.Unlock()
	d.RefreshAt(context.Background(), t0)
	if a, _ := pool.Lookup("https://a.example:9000"); a.Weight() != 3 {
		t.Fatalf("SRV weight change not applied: %d", a.Weight())
	}
}

// TestDNSSRVPriority: only the records of the lowest priority present
// are used; higher ones are fallbacks.
func TestDNSSRVPriority(t *testing.T) {
	pool, _ := NewPool(nil)
	fr := &fakeResolver{srv: []*net.SRV{
		{Target: "backup.example.", Port: 9000, Priority: 20, Weight: 1},
		{Target: "a.example.", Port: 9000, Priority: 10, Weight: 1},
		{Target: "b.example.", Port: 9000, Priority: 10, Weight: 1},
		{Target: ".", Port: 0, Priority: 1}, // "no service" records do not count
	}}
	d, err := NewDNS(pool, DNSConfig{Name: "svc.example", SRVService: "http", LookupSRV: fr.lookupSRV})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RefreshAt(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if got := poolIDs(pool); !slices.Equal(got, []string{"http://a.example:9000", "http://b.example:9000"}) {
		t.Fatalf("pool %v, want only the priority-10 records", got)
	}
	fr.mu.Lock()
	fr.srv = fr.srv[:1] // the primaries are gone: the backup takes over
	fr.mu.Unlock()
	d.RefreshAt(context.Background(), t0)
	if got := poolIDs(pool); !slices.Equal(got, []string{"http://backup.example:9000"}) {
		t.Fatalf("pool %v, want the backup", got)
	}
}

// TestDNSOnRemoveOutsideLock: OnRemove may call back into the DNS (here
// LastRefresh, which takes its lock) without deadlocking.
func TestDNSOnRemoveOutsideLock(t *testing.T) {
	pool, _ := NewPool(nil)
	fr := &fakeResolver{}
	var d *DNS
	calls := 0
	d, err := NewDNS(pool, DNSConfig{Name: "api.internal", Port: 8080, LookupNetIP: fr.lookupIP,
		OnRemove: func(*Target) { d.LastRefresh(); calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	fr.set(nil, "10.0.0.1", "10.0.0.2")
	d.RefreshAt(context.Background(), t0)
	fr.set(nil, "10.0.0.1")
	refreshed := make(chan struct{})
	go func() { d.RefreshAt(context.Background(), t0); close(refreshed) }()
	select {
	case <-refreshed:
	case <-time.After(10 * time.Second): // only bounds a failing run
		t.Fatal("RefreshAt deadlocked: OnRemove runs under the DNS lock")
	}
	if calls != 1 {
		t.Fatalf("OnRemove called %d times, want 1", calls)
	}
}

func TestDNSStartResolvesUntilClose(t *testing.T) {
	pool, _ := NewPool(nil)
	fr := &fakeResolver{}
	fr.set(nil, "127.0.0.2")
	d, err := NewDNS(pool, DNSConfig{Name: "x", Port: 80, Interval: 2 * time.Millisecond, LookupNetIP: fr.lookupIP})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	d.Start()
	if !waitFor(2*time.Second, func() bool { return pool.Len() == 1 }) {
		t.Fatal("first lookup did not fill the pool")
	}
	fr.set(nil, "127.0.0.3", "127.0.0.4")
	if !waitFor(2*time.Second, func() bool { return pool.Len() == 2 }) {
		t.Fatal("re-resolution did not update the pool")
	}
	d.Close() // waits for the loop goroutine: goleak checks it is gone
	d.Close()
	if err := d.RefreshAt(context.Background(), t0); err != nil {
		t.Fatalf("RefreshAt after Close: %v", err)
	}
}

func TestNewDNSErrors(t *testing.T) {
	p, _ := NewPool(nil)
	for _, cfg := range []DNSConfig{{}, {Name: "x"}, {Name: "x", Port: 70000}, {Name: "x", Port: 80, Scheme: "ftp"}, {Name: "x", Port: 80, Interval: -1},
		// Settings of the other lookup kind, which NewDNS would ignore.
		{Name: "x", SRVService: "http", Port: 80}, {Name: "x", Port: 80, SRVProto: "udp"},
	} {
		if _, err := NewDNS(p, cfg); err == nil {
			t.Errorf("NewDNS(%+v) accepted", cfg)
		}
	}
	if _, err := NewDNS(nil, DNSConfig{Name: "x", Port: 1}); err == nil {
		t.Error("nil pool accepted")
	}
	d, _ := NewDNS(p, DNSConfig{Name: "x", Port: 1})
	d.Close() // without Start
}
