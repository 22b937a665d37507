package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DNS discovery defaults, stated on the DNSConfig fields.
const (
	defaultDNSInterval = 30 * time.Second
	defaultDNSTimeout  = 5 * time.Second
)

// ErrEmptyAnswer is returned by DNS.Refresh when the name resolved to no
// address; the pool keeps its last good set.
var ErrEmptyAnswer = errors.New("balancer: DNS answer has no usable address")

// DNSConfig configures a DNS discoverer. The zero value of each field
// selects the default documented on it.
type DNSConfig struct {
	// Name is the DNS name to resolve. Required.
	Name string
	// Port is the port of targets found by A/AAAA lookup (1-65535).
	// Required unless SRVService is set, and refused with it.
	Port int
	// SRVService and SRVProto, when SRVService is set, make the lookup an
	// SRV query for _service._proto.Name; targets take their host, port
	// and weight from the records. SRVProto defaults to "tcp"; it is
	// refused without SRVService.
	SRVService, SRVProto string
	// Scheme is the targets' URL scheme, "http" (the default), "https" or
	// "h2c" (plaintext HTTP/2 with prior knowledge, for gRPC servers).
	Scheme string
	// Interval is the time between two lookups. Zero means 30s.
	Interval time.Duration
	// Timeout bounds one lookup. Zero means 5s.
	Timeout time.Duration
	// LookupNetIP resolves A/AAAA ("ip" network). Nil means
	// net.DefaultResolver.LookupNetIP. Tests inject a fake.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupSRV resolves SRV records. Nil means net.DefaultResolver.LookupSRV.
	LookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	// OnRemove, if set, is called with each target the discoverer removed
	// from the pool, after the removal: pass a proxy.Proxy's Drain to close its
	// connections once its requests are done.
	OnRemove func(t *Target)
	// Logger receives lookup failures (Warn) and changes (Info). Nil means
	// silent.
	Logger *slog.Logger
}

// DNS keeps the targets of a pool in line with a DNS name, re-resolving
// it every Interval: new addresses are added, vanished ones removed (and
// handed to OnRemove). A failed lookup, or an empty answer, keeps the last
// good set. Targets it did not add are left alone. RefreshAt resolves
// once; Start runs lookups on a goroutine owned by the DNS until Close.
// DNS is safe for concurrent use.
type DNS struct {
	pool *Pool
	cfg  DNSConfig

	// mu serialises refreshes and guards the fields below.
	mu      sync.Mutex
	owned   map[string]bool // IDs of targets this discoverer added
	lastErr error
	lastOK  time.Time

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// NewDNS returns a discoverer feeding pool; call RefreshAt or Start. It
// returns an error for a nil pool or an invalid config.
func NewDNS(pool *Pool, cfg DNSConfig) (*DNS, error) {
	if pool == nil {
		return nil, errors.New("balancer: DNS discovery needs a pool")
	}
	if cfg.Name == "" {
		return nil, errors.New("balancer: DNS discovery needs a name")
	}
	switch {
	case cfg.SRVService == "" && (cfg.Port < 1 || cfg.Port > 65535):
		return nil, fmt.Errorf("balancer: DNS discovery port %d out of range", cfg.Port)
	case cfg.SRVService != "" && cfg.Port != 0:
		return nil, errors.New("balancer: DNS discovery by SRV takes ports from the records, not Port")
	case cfg.SRVService == "" && cfg.SRVProto != "":
		return nil, errors.New("balancer: DNS discovery SRVProto needs SRVService")
	}
	cfg.Scheme = cmp.Or(cfg.Scheme, "http")
	if cfg.Scheme != "http" && cfg.Scheme != "https" && cfg.Scheme != SchemeH2C {
		return nil, fmt.Errorf("balancer: DNS discovery scheme %q", cfg.Scheme)
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 {
		return nil, errors.New("balancer: negative DNS interval or timeout")
	}
	cfg.Interval = cmp.Or(cfg.Interval, defaultDNSInterval)
	cfg.Timeout = cmp.Or(cfg.Timeout, defaultDNSTimeout)
	cfg.SRVProto = cmp.Or(cfg.SRVProto, "tcp")
	if cfg.LookupNetIP == nil {
		cfg.LookupNetIP = net.DefaultResolver.LookupNetIP
	}
	if cfg.LookupSRV == nil {
		cfg.LookupSRV = net.DefaultResolver.LookupSRV
	}
	return &DNS{pool: pool, cfg: cfg, owned: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// resolve returns the upstreams the name stands for now.
func (d *DNS) resolve(ctx context.Context) ([]Upstream, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var ups []Upstream
	if d.cfg.SRVService != "" {
		_, recs, err := d.cfg.LookupSRV(ctx, d.cfg.SRVService, d.cfg.SRVProto, d.cfg.Name)
		if err != nil {
			return nil, err
		}
		// Only the lowest priority present is used (RFC 2782): the
		// others are fallbacks for when it has no usable record.
		best := -1
		for _, r := range recs {
			if strings.TrimSuffix(r.Target, ".") != "" && r.Port != 0 && (best < 0 || int(r.Priority) < best) {
				best = int(r.Priority)
			}
		}
		for _, r := range recs {
			host := strings.TrimSuffix(r.Target, ".")
			if host == "" || r.Port == 0 || int(r.Priority) != best {
				continue
			}
			w := min(max(int(r.Weight), 1), MaxWeight)
			ups = append(ups, Upstream{URL: &url.URL{Scheme: d.cfg.Scheme, Host: net.JoinHostPort(host, strconv.Itoa(int(r.Port)))}, Weight: w})
		}
	} else {
		addrs, err := d.cfg.LookupNetIP(ctx, "ip", d.cfg.Name)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !a.IsValid() || a.IsUnspecified() {
				continue
			}
			host := netip.AddrPortFrom(a.Unmap(), uint16(d.cfg.Port)).String()
			ups = append(ups, Upstream{URL: &url.URL{Scheme: d.cfg.Scheme, Host: host}})
		}
	}
	if len(ups) == 0 {
		return nil, ErrEmptyAnswer
	}
	return ups, nil
}

// Refresh resolves the name once, now; see RefreshAt.
func (d *DNS) Refresh(ctx context.Context) error { return d.RefreshAt(ctx, time.Now()) }

// RefreshAt resolves the name once and brings the pool in line, recording
// now as the time of the last good answer. On a lookup error or an empty
// answer it changes nothing and returns the error.
func (d *DNS) RefreshAt(ctx context.Context, now time.Time) error {
	ups, err := d.resolve(ctx)
	removed, err := d.apply(ups, err, now)
	if d.cfg.OnRemove != nil {
		// After unlocking: OnRemove (a Drain, typically) may block or
		// call back into d.
		for _, t := range removed {
			d.cfg.OnRemove(t)
		}
	}
	return err
}

// apply records a lookup's outcome and brings the pool in line with a
// good answer; it returns the targets it removed.
func (d *DNS) apply(ups []Upstream, err error, now time.Time) ([]*Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.lastErr = err
		if d.cfg.Logger != nil {
			d.cfg.Logger.Warn("balancer: DNS lookup failed; keeping the last good targets",
				slog.String("name", d.cfg.Name), slog.String("error", err.Error()))
		}
		return nil, err
	}
	d.lastErr, d.lastOK = nil, now
	want := make(map[string]Upstream, len(ups))
	for _, up := range ups {
		c, err := up.normalize()
		if err != nil {
			continue
		}
		want[c.String()] = up
	}
	var removed []*Target
	for id := range d.owned {
		if _, ok := want[id]; ok {
			continue
		}
		delete(d.owned, id)
		if t, ok := d.pool.Lookup(id); ok && d.pool.Remove(t.URL()) {
			removed = append(removed, t)
		}
	}
	for id, up := range want {
		if t, ok := d.pool.Lookup(id); ok {
			if d.owned[id] && t.Weight() != max(up.Weight, 1) {
				d.pool.Update(up)
			}
			continue
		}
		if _, err := d.pool.Add(up); err == nil {
			d.owned[id] = true
		}
	}
	if d.cfg.Logger != nil && len(removed) > 0 {
		d.cfg.Logger.Info("balancer: DNS targets removed", slog.String("name", d.cfg.Name), slog.Int("count", len(removed)))
	}
	return removed, nil
}

// LastRefresh returns the time of the last good answer (zero if none yet)
// and the error of the last lookup (nil if it succeeded).
func (d *DNS) LastRefresh() (ok time.Time, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastOK, d.lastErr
}

// Start resolves the name now and then every Interval on a goroutine that
// runs until Close. Calls after the first do nothing.
func (d *DNS) Start() {
	d.startOnce.Do(func() { go d.loop() })
}

func (d *DNS) loop() {
	defer close(d.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		d.RefreshAt(ctx, time.Now())
		t := time.NewTimer(d.cfg.Interval)
		select {
		case <-d.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close stops the lookups and waits for a running one to end. It is safe
// to call more than once, and before or without Start. Targets stay in
// the pool.
func (d *DNS) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		started := true
		d.startOnce.Do(func() { started = false })
		if started {
			<-d.done
		}
	})
	return nil
}
