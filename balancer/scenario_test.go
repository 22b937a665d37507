package balancer

import (
	"errors"
	"testing"
	"time"
)

func TestCheckedDownAndEjectedTargetsBothStayOut(t *testing.T) {
	p, ts := fakePool(t, 4)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 1, PanicThreshold: -1})
	hc := newChecker(t, p, HealthConfig{Fall: 1, Rise: 1})
	hc.ReportAt(ts[0], errors.New("down"), t0)
	o.ObserveAt(ts[1], fail502, t0)
	if ts[0].Healthy() || ts[1].Healthy() || p.Available() != 2 {
		t.Fatalf("checked-down and ejected targets must both be out (available %d)", p.Available())
	}
	o.ObserveAt(ts[0], okRes, t0)
	hc.ReportAt(ts[1], nil, t0) // checks pass, but it is still ejected
	if ts[1].Healthy() {
		t.Fatal("a passing health check brought an ejected target back")
	}
	o.UpdateAt(t0.Add(time.Hour))
	hc.ReportAt(ts[0], nil, t0.Add(time.Hour))
	if p.Available() != 4 {
		t.Fatalf("Available() = %d once both agree, want 4", p.Available())
	}
}

// TestHealthAndOutlierKeepSeparateVerdicts: with a checker and outlier
// detection on one pool (neither told of the other), neither brings back
// a target the other holds out, and neither undoes Pool.SetHealthy or
// Pool.SetDraining.
func TestHealthAndOutlierKeepSeparateVerdicts(t *testing.T) {
	p, ts := fakePool(t, 4)
	o := newOutlier(t, p, OutlierConfig{Consecutive: 1, BaseEjection: time.Minute, PanicThreshold: -1})
	hc := newChecker(t, p, HealthConfig{Fall: 1, Rise: 1})
	hc.ReportAt(ts[0], errors.New("down"), t0)
	o.UpdateAt(t0) // republishes every ejection
	if ts[0].Healthy() {
		t.Fatal("outlier detection brought back a target health checks hold down")
	}
	o.ObserveAt(ts[1], fail502, t0)
	hc.ReportAt(ts[1], nil, t0)
	if ts[1].Healthy() {
		t.Fatal("a passing health check brought back an ejected target")
	}
	p.SetHealthy(ts[2], false)
	p.SetDraining(ts[3], true)
	hc.ReportAt(ts[2], nil, t0)
	hc.ReportAt(ts[3], nil, t0)
	o.ObserveAt(ts[2], okRes, t0)
	o.UpdateAt(t0.Add(time.Hour))
	if ts[2].Healthy() || ts[3].Healthy() {
		t.Fatal("health checks or outlier detection undid SetHealthy(false) or SetDraining(true)")
	}
	if !ts[1].Healthy() || ts[0].Healthy() {
		t.Fatalf("after the ejection ended: ejected one healthy %v (want true), checked-down one healthy %v (want false)",
			ts[1].Healthy(), ts[0].Healthy())
	}
	hc.ReportAt(ts[0], nil, t0.Add(time.Hour))
	p.SetHealthy(ts[2], true)
	p.SetDraining(ts[3], false)
	if p.Available() != 4 {
		t.Fatalf("Available() = %d once every owner lets its target in, want 4", p.Available())
	}
}
