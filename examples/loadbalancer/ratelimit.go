package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/ratelimit"
	"github.com/gatekit/gatekit/ratelimit/redisrate"
	"github.com/gatekit/gatekit/reqkey"
)

// rateFlags are the rate-limiting flags.
type rateFlags struct {
	rate, key, redis, mode string
	instances              int
}

// rateLimit is the rate limiting the flags ask for.
type rateLimit struct {
	mw     func(http.Handler) http.Handler // nil without -rate
	local  *ratelimit.Limiter              // the limiter, without -redis
	shared *redisrate.Limiter              // the limiter, with -redis
	close  func()                          // closes the Redis client, if any
}

// middleware returns the rate limiting the flags ask for.
func (f rateFlags) middleware() (rateLimit, error) {
	none := rateLimit{close: func() {}}
	if f.rate == "" {
		if f.redis != "" {
			return none, fmt.Errorf("-redis needs -rate")
		}
		return none, nil
	}
	r, err := ratelimit.ParseRate(f.rate)
	if err != nil {
		return none, err
	}
	key, err := reqkey.Parse(f.key)
	if err != nil || key == nil {
		return none, fmt.Errorf("-rate-key %q: want ip, global or another reqkey spec", f.key)
	}
	cfg := ratelimit.Config{Rates: []ratelimit.Rate{r}, Key: key}
	if f.redis == "" {
		lim, err := ratelimit.New(cfg)
		if err != nil {
			return none, err
		}
		return rateLimit{mw: ratelimit.Middleware(lim), local: lim, close: none.close}, nil
	}
	mode, err := redisrate.ParseFailMode(f.mode)
	if err != nil {
		return none, err
	}
	client := redis.NewClient(&redis.Options{Addr: f.redis, ContextTimeoutEnabled: true})
	lim, err := redisrate.New(client, redisrate.Config{Limit: cfg, Name: "loadbalancer:" + strings.ToLower(f.key),
		OnError: mode, Instances: f.instances})
	if err != nil {
		client.Close()
		return none, err
	}
	return rateLimit{mw: ratelimit.Middleware(lim), shared: lim, close: func() { client.Close() }}, nil
}
