// Package rediscache is a cache.Store in Redis, shared by every gateway
// instance that uses the same Redis.
//
// Entries are stored as one Redis string per key (cache.Entry's binary
// encoding) with the TTL the cache asks for; surrogate tags are Redis sets
// so that cache.Cache.PurgeTag and PurgePrefix reach the entries of every
// instance. Redis errors are misses: a slow or absent Redis degrades the
// cache to pass-through, it never fails a request.
package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatekit/gatekit/cache"
	"github.com/redis/go-redis/v9"
)

// Config configures a Store. The zero value of each field selects the
// default documented on it.
type Config struct {
	// Prefix is prepended to every Redis key the Store uses, so several
	// caches can share one Redis. If empty, "gatekit:cache:".
	Prefix string
	// Timeout bounds each Redis operation. If zero, 100ms.
	Timeout time.Duration
	// MaxEntrySize is the largest encoded entry stored, in bytes.
	// If zero, 8 MiB.
	MaxEntrySize int
	// OnError, if not nil, is called with every Redis error (op is "get",
	// "set", "delete" or "purge"); errors are otherwise ignored.
	OnError func(op string, err error)
}

// Store is a cache.Store and cache.Purger on Redis. It is safe for
// concurrent use. The Redis client is the caller's: Close does not close it.
type Store struct {
	rdb    redis.UniversalClient
	cfg    Config
	closed atomic.Bool
}

var (
	_ cache.Store  = (*Store)(nil)
	_ cache.Purger = (*Store)(nil)
)

// ErrClosed is returned by purges on a closed Store.
var ErrClosed = errors.New("rediscache: closed")

// New returns a Store on rdb. It returns an error for a nil client or
// negative settings; it does not contact Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("rediscache: nil client")
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("rediscache: negative Timeout %v", cfg.Timeout)
	case cfg.MaxEntrySize < 0:
		return nil, fmt.Errorf("rediscache: negative MaxEntrySize %d", cfg.MaxEntrySize)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "gatekit:cache:"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.MaxEntrySize == 0 {
		cfg.MaxEntrySize = 8 << 20
	}
	return &Store{rdb: rdb, cfg: cfg}, nil
}

// entryKey and tagKey are the Redis keys of an entry and of a tag's set.
func (s *Store) entryKey(key string) string { return s.cfg.Prefix + "e:" + key }
func (s *Store) tagKey(tag string) string   { return s.cfg.Prefix + "t:" + tag }

func (s *Store) fail(op string, err error) {
	if err != nil && s.cfg.OnError != nil && !errors.Is(err, redis.Nil) {
		s.cfg.OnError(op, err)
	}
}

// Get implements cache.Store. Missing, undecodable or unreachable entries are misses.
func (s *Store) Get(ctx context.Context, key string) (*cache.Entry, bool) {
	if s.closed.Load() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	data, err := s.rdb.Get(ctx, s.entryKey(key)).Bytes()
	if err != nil {
		s.fail("get", err)
		return nil, false
	}
	e := new(cache.Entry)
	if err := e.UnmarshalBinary(data); err != nil {
		s.fail("get", err)
		return nil, false
	}
	return e, true
}

// Set implements cache.Store: the entry with its TTL, and the key added to
// the set of each of its tags (kept as long as the longest entry in it).
func (s *Store) Set(ctx context.Context, key string, e *cache.Entry, ttl time.Duration) {
	if s.closed.Load() || ttl <= 0 {
		return
	}
	data, err := e.MarshalBinary()
	if err != nil {
		s.fail("set", err)
		return
	}
	if len(data) > s.cfg.MaxEntrySize {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	ek := s.entryKey(key)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, ek, data, ttl)
		for _, v := range e.Variants {
			for _, t := range v.Tags {
				tk := s.tagKey(t)
				p.SAdd(ctx, tk, key)
				p.ExpireGT(ctx, tk, ttl)
				p.ExpireNX(ctx, tk, ttl)
			}
		}
		return nil
	})
	s.fail("set", err)
}

// Delete implements cache.Store.
func (s *Store) Delete(ctx context.Context, key string) {
	if s.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.fail("delete", s.rdb.Del(ctx, s.entryKey(key)).Err())
}

// PurgeTag implements cache.Purger: it deletes every entry whose key is in
// tag's set, and the set.
func (s *Store) PurgeTag(ctx context.Context, tag string) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	tk := s.tagKey(tag)
	keys, err := s.rdb.SMembers(ctx, tk).Result()
	if err != nil {
		s.fail("purge", err)
		return 0, err
	}
	n := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		rk := make([]string, len(batch))
		for i, k := range batch {
			rk[i] = s.entryKey(k)
		}
		d, err := s.rdb.Del(ctx, rk...).Result()
		if err != nil {
			s.fail("purge", err)
			return n, err
		}
		n += int(d)
	}
	err = s.rdb.Del(ctx, tk).Err()
	s.fail("purge", err)
	return n, err
}

// PurgePrefix implements cache.Purger: it scans for entries whose key,
// without the method, starts with prefix, and deletes them.
func (s *Store) PurgePrefix(ctx context.Context, prefix string) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	match := globEscape(s.entryKey("")) + "* " + globEscape(prefix) + "*"
	n := 0
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, match, 500).Result()
		if err != nil {
			s.fail("purge", err)
			return n, err
		}
		if len(keys) > 0 {
			d, err := s.rdb.Del(ctx, keys...).Result()
			if err != nil {
				s.fail("purge", err)
				return n, err
			}
			n += int(d)
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}

// Close implements cache.Store. The client stays open.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// globEscape escapes the Redis glob metacharacters in s.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
