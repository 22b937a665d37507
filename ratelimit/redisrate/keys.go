package redisrate

import (
	"crypto/sha256"
	"encoding/base64"
)

// keys returns the Redis key names of request key: the buckets and the
// block, sharing a {hash tag} so that Redis Cluster keeps them in one
// slot.
func (l *Limiter) keys(key string) [2]string {
	h := sha256.New()
	h.Write(l.cfg.KeySecret)
	h.Write([]byte{0})
	h.Write([]byte(l.cfg.Name))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	tag := base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0])[:18])
	base := l.cfg.Prefix + "{" + tag + "}"
	return [2]string{base + ":b", base + ":x"}
}
