package balancer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// grpcHealthPath is the gRPC health protocol's method,
// grpc.health.v1.Health/Check.
const grpcHealthPath = "/grpc.health.v1.Health/Check"

// grpcServing is HealthCheckResponse.ServingStatus SERVING.
const grpcServing = 1

// maxGRPCHealthMessage bounds the HealthCheckResponse read: it holds one
// enum field, a few bytes.
const maxGRPCHealthMessage = 1 << 10

// grpcHealthRequest returns the gRPC message (the 5-byte length prefix
// and the protobuf encoding) of HealthCheckRequest{service: service}: field
// 1, wire type 2 (a length-delimited string), omitted when empty as proto3
// does.
func grpcHealthRequest(service string) []byte {
	var pb []byte
	if service != "" {
		pb = append(pb, 0x0a)
		pb = binary.AppendUvarint(pb, uint64(len(service)))
		pb = append(pb, service...)
	}
	msg := make([]byte, 5, 5+len(pb))
	binary.BigEndian.PutUint32(msg[1:], uint32(len(pb)))
	return append(msg, pb...)
}

// parseGRPCHealthResponse returns the status field (1, an enum) of a
// HealthCheckResponse encoding, skipping unknown fields; absent means 0,
// UNKNOWN.
func parseGRPCHealthResponse(pb []byte) (uint64, error) {
	status := uint64(0)
	for len(pb) > 0 {
		tag, n := binary.Uvarint(pb)
		if n <= 0 {
			return 0, errors.New("malformed health response")
		}
		pb = pb[n:]
		field, wire := tag>>3, tag&7
		switch wire {
		case 0: // varint
			v, n := binary.Uvarint(pb)
			if n <= 0 {
				return 0, errors.New("malformed health response")
			}
			pb = pb[n:]
			if field == 1 {
				status = v
			}
		case 1: // 64-bit
			if len(pb) < 8 {
				return 0, errors.New("malformed health response")
			}
			pb = pb[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(pb)
			if n <= 0 || uint64(len(pb)-n) < l {
				return 0, errors.New("malformed health response")
			}
			pb = pb[n+int(l):]
		case 5: // 32-bit
			if len(pb) < 4 {
				return 0, errors.New("malformed health response")
			}
			pb = pb[4:]
		default:
			return 0, errors.New("malformed health response")
		}
	}
	return status, nil
}

// probeGRPC asks t's address for the gRPC health of cfg.GRPCService. It
// passes only with HTTP 200, grpc-status 0 and status SERVING.
func (hc *HealthChecker) probeGRPC(ctx context.Context, t *Target) error {
	u := *t.URL()
	u.Path = strings.TrimSuffix(u.Path, "/") + grpcHealthPath
	u.RawPath, u.RawQuery = "", ""
	body := grpcHealthRequest(hc.cfg.GRPCService)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	if hc.cfg.Host != "" {
		req.Host = hc.cfg.Host
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "gatekit-health-check")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("Grpc-Timeout", strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10)+"m")
	}
	resp, err := hc.roundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.CopyN(io.Discard, resp.Body, maxHealthBody)
		return fmt.Errorf("gRPC health check: HTTP status %d", resp.StatusCode)
	}
	var msg []byte
	var prefix [5]byte
	if _, err := io.ReadFull(resp.Body, prefix[:]); err == nil {
		n := binary.BigEndian.Uint32(prefix[1:])
		if prefix[0] != 0 || n > maxGRPCHealthMessage {
			return errors.New("gRPC health check: compressed or oversized response")
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, msg); err != nil {
			return fmt.Errorf("gRPC health check: %w", err)
		}
	} else if err != io.EOF {
		return fmt.Errorf("gRPC health check: %w", err)
	}
	io.CopyN(io.Discard, resp.Body, maxHealthBody) // to the trailers
	gs := resp.Trailer.Get("Grpc-Status")
	if gs == "" {
		gs = resp.Header.Get("Grpc-Status") // a trailers-only response
	}
	if gs != "0" {
		return fmt.Errorf("gRPC health check: grpc-status %q", gs)
	}
	if msg == nil {
		return errors.New("gRPC health check: no response message")
	}
	st, err := parseGRPCHealthResponse(msg)
	if err != nil {
		return fmt.Errorf("gRPC health check: %w", err)
	}
	if st != grpcServing {
		return fmt.Errorf("gRPC health check: service status %d, not SERVING", st)
	}
	return nil
}

// roundTrip sends a probe: to an h2c target over the checker's h2c
// transport (plaintext HTTP/2 with prior knowledge), to any other over
// the checker's transport.
func (hc *HealthChecker) roundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != SchemeH2C {
		return hc.transport.RoundTrip(req)
	}
	u := *req.URL
	u.Scheme = "http"
	out := req.Clone(req.Context())
	out.URL = &u
	return hc.h2c.RoundTrip(out)
}

// newH2CProbeTransport returns the transport of probes to h2c targets:
// plaintext HTTP/2 only, dial bounded by timeout, one idle connection per
// address.
func newH2CProbeTransport(timeout time.Duration) *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols:           &p,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
}
