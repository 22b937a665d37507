package proxy

import (
	"crypto/tls"
	"testing"
	"time"
)

func TestNewTransportDefaults(t *testing.T) {
	tr, err := NewTransport(TransportConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if tr.Proxy != nil {
		t.Error("Proxy is set: the environment's HTTP_PROXY would apply")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"MaxIdleConnsPerHost", tr.MaxIdleConnsPerHost, defaultMaxIdleConnsPerHost},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, 5 * time.Second},
		{"ResponseHeaderTimeout", tr.ResponseHeaderTimeout, 15 * time.Second},
		{"IdleConnTimeout", tr.IdleConnTimeout, 60 * time.Second},
		{"DisableCompression", tr.DisableCompression, true},
		{"ForceAttemptHTTP2", tr.ForceAttemptHTTP2, true},
		{"DialContext set", tr.DialContext != nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if defaultMaxIdleConnsPerHost < 64 {
		t.Errorf("defaultMaxIdleConnsPerHost = %d, want at least 64", defaultMaxIdleConnsPerHost)
	}
}

func TestNewTransportSettings(t *testing.T) {
	tc := &tls.Config{ServerName: "upstream.internal"}
	tr, err := NewTransport(TransportConfig{
		TLSHandshakeTimeout: time.Second, ResponseHeaderTimeout: 3 * time.Second,
		IdleConnTimeout: 5 * time.Second, MaxIdleConnsPerHost: 200, MaxConnsPerHost: 300, TLSClientConfig: tc,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if tr.TLSHandshakeTimeout != time.Second || tr.ResponseHeaderTimeout != 3*time.Second ||
		tr.IdleConnTimeout != 5*time.Second || tr.MaxIdleConnsPerHost != 200 || tr.MaxConnsPerHost != 300 {
		t.Errorf("settings not applied: %+v", tr)
	}
	if tr.TLSClientConfig == tc || tr.TLSClientConfig.ServerName != "upstream.internal" {
		t.Error("TLSClientConfig not cloned")
	}
	for _, bad := range []TransportConfig{
		{DialTimeout: -1}, {TLSHandshakeTimeout: -1}, {ResponseHeaderTimeout: -1}, {IdleConnTimeout: -1},
		{MaxIdleConnsPerHost: -1}, {MaxConnsPerHost: -1},
	} {
		if _, err := NewTransport(bad); err == nil {
			t.Errorf("NewTransport(%+v) succeeded", bad)
		}
	}
}

func TestBufferPool(t *testing.T) {
	bp := newBufferPool(1, bufferSize)
	b := bp.Get()
	if len(b) != bufferSize {
		t.Fatalf("len = %d", len(b))
	}
	bp.Put(b)
	bp.Put(make([]byte, 10)) // wrong size: dropped
	if b2 := bp.Get(); &b2[0] != &b[0] {
		t.Error("buffer not reused")
	}
}
