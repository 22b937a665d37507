// Package rediscache is a cache.Store in Redis, shared by every gateway
// instance that uses the same Redis.
//
// Entries are stored as one Redis string per key (cache.Entry's binary
// encoding) with the TTL the cache asks for. Each surrogate tag is a sorted
// set of the keys carrying it, scored by their entries' expiry, so that
// cache.Cache.PurgeTag and PurgePrefix reach the entries of every instance.
// A tag's set stays bounded by the entries that may still exist: members
// past their expiry are trimmed whenever the tag is set again, Delete
// removes its key from its tags, and PurgeTag works through the set in
// batches. Redis errors are misses: a slow or absent Redis degrades the
// cache to pass-through, it never fails a request.
//
// The Store needs Redis 7.0 or later (EXPIRE with GT and NX; GETDEL is 6.2;
// SET PX, DEL, SCAN, ZADD, ZRANGE, ZREM, ZREMRANGEBYSCORE and ZCARD are
// older).
package rediscache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// Now is the clock that scores tag members by expiry. Gateways sharing
	// a Redis must agree on the time to within tagGrace (one minute): a
	// member is trimmed only that long after its expiry. If nil, time.Now.
	Now func() time.Time
}

// tagGrace is how long after its entry's expiry a tag member is kept, so
// that clock differences between gateways never trim a live entry's tag.
const tagGrace = time.Minute

// purgeBatch is how many tag members PurgeTag handles per round trip.
const purgeBatch = 500

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
	cfg.Prefix = cmp.Or(cfg.Prefix, "gatekit:cache:")
	cfg.Timeout = cmp.Or(cfg.Timeout, 100*time.Millisecond)
	cfg.MaxEntrySize = cmp.Or(cfg.MaxEntrySize, 8<<20)
	if cfg.Now == nil {
		cfg.Now = time.Now
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
// the sorted set of each of its tags, scored by the entry's expiry. The
// same round trip trims the tag's members that expired more than tagGrace
// ago and keeps the tag's set as long as its longest-lived member.
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
	now := s.cfg.Now()
	expiry := float64(now.Add(ttl).UnixMilli())
	trim := strconv.FormatInt(now.Add(-tagGrace).UnixMilli(), 10)
	ek := s.entryKey(key)
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, ek, data, ttl)
		for _, t := range entryTags(e) {
			tk := s.tagKey(t)
			p.ZAdd(ctx, tk, redis.Z{Score: expiry, Member: key})
			p.ZRemRangeByScore(ctx, tk, "-inf", "("+trim)
			p.ExpireGT(ctx, tk, ttl+tagGrace)
			p.ExpireNX(ctx, tk, ttl+tagGrace)
		}
		return nil
	})
	s.fail("set", err)
}

// entryTags returns the distinct tags of e's variants.
func entryTags(e *cache.Entry) []string {
	var out []string
	for _, v := range e.Variants {
		for _, t := range v.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Delete implements cache.Store: it removes the entry and its key from
// the sets of the entry's tags.
func (s *Store) Delete(ctx context.Context, key string) {
	if s.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	data, err := s.rdb.GetDel(ctx, s.entryKey(key)).Bytes()
	if err != nil {
		s.fail("delete", err)
		return
	}
	var e cache.Entry
	if e.UnmarshalBinary(data) != nil {
		return // undecodable: its tags are unknown, trimmed when they expire
	}
	tags := entryTags(&e)
	if len(tags) == 0 {
		return
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range tags {
			p.ZRem(ctx, s.tagKey(t), key)
		}
		return nil
	})
	s.fail("delete", err)
}

// PurgeTag implements cache.Purger: it deletes every entry whose key is in
// tag's set, working through the set purgeBatch members per round trip
// and removing them from it as their entries go. Keys tagged while it runs
// may be purged too; it stops after as many members as the set held when
// it started, so a steady stream of new ones cannot keep it going.
func (s *Store) PurgeTag(ctx context.Context, tag string) (int, error) {
	if s.closed.Load() {
		return 0, ErrClosed
	}
	tk := s.tagKey(tag)
	total, err := s.rdb.ZCard(ctx, tk).Result()
	if err != nil {
		s.fail("purge", err)
		return 0, err
	}
	n := 0
	for done := int64(0); done < total; {
		members, err := s.rdb.ZRange(ctx, tk, 0, purgeBatch-1).Result()
		if err != nil {
			s.fail("purge", err)
			return n, err
		}
		if len(members) == 0 {
			break
		}
		dels := make([]*redis.IntCmd, len(members))
		rem := make([]any, len(members))
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, m := range members {
				dels[i] = p.Del(ctx, s.entryKey(m))
				rem[i] = m
			}
			p.ZRem(ctx, tk, rem...)
			return nil
		})
		for _, d := range dels {
			n += int(d.Val())
		}
		if err != nil {
			s.fail("purge", err)
			return n, err
		}
		done += int64(len(members))
	}
	return n, nil
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
