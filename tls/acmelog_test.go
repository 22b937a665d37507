package tls

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapLoggerWritesCertmagicRecordsToSlog checks the bridge certmagic
// logs through: Info becomes Debug (the gateway reports outcomes itself),
// Warn and Error keep their level, the logger name gets the certmagic
// prefix without a doubled dot, fields and With fields become attributes,
// and two children of one logger do not share their With fields.
func TestZapLoggerWritesCertmagicRecordsToSlog(t *testing.T) {
	var buf bytes.Buffer
	zl := newZapLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	// Three With calls leave spare capacity behind the parent's fields,
	// where two children appending in place would overwrite each other.
	parent := zl.Named("obtain").With(zap.String("identifier", "a.test")).With(zap.String("ca", "pebble")).With(zap.Bool("ari", true))
	first := parent.With(zap.Int("attempt", 1))
	second := parent.With(zap.Int("attempt", 2))
	parent.Info("acquiring lock")
	first.Warn("will retry", zap.String("error", "connection refused"))
	second.Error("could not get certificate")

	var got []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m)
	}
	for i, want := range []map[string]any{
		{"level": "DEBUG", "msg": "acquiring lock", "logger": "certmagic.obtain", "identifier": "a.test", "ca": "pebble", "ari": true},
		{"level": "WARN", "msg": "will retry", "logger": "certmagic.obtain", "identifier": "a.test", "ca": "pebble", "ari": true, "attempt": 1.0, "error": "connection refused"},
		{"level": "ERROR", "msg": "could not get certificate", "logger": "certmagic.obtain", "identifier": "a.test", "ca": "pebble", "ari": true, "attempt": 2.0},
	} {
		if i >= len(got) {
			t.Fatalf("%d records, want 3: %s", len(got), buf.String())
		}
		delete(got[i], "time")
		if len(got[i]) != len(want) {
			t.Errorf("record %d = %v, want %v", i, got[i], want)
			continue
		}
		for k, v := range want {
			if got[i][k] != v {
				t.Errorf("record %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
	}

	quiet := newZapLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	buf.Reset()
	quiet.Info("renewal check")
	if buf.Len() != 0 {
		t.Errorf("certmagic Info reached an Info-level handler: %s", buf.String())
	}
	newZapLogger(nil).Error("dropped") // a nil logger is silent, and must not panic
}
