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

// middleware returns the rate limiting the flags ask for (nil without
// -rate) and a function that closes the Redis client, if any.
func (f rateFlags) middleware() (func(http.Handler) http.Handler, func(), error) {
	noop := func() {}
	if f.rate == "" {
		if f.redis != "" {
			return nil, noop, fmt.Errorf("-redis needs -rate")
		}
		return nil, noop, nil
	}
	r, err := ratelimit.ParseRate(f.rate)
	if err != nil {
		return nil, noop, err
	}
	key, err := reqkey.Parse(f.key)
	if err != nil || key == nil {
		return nil, noop, fmt.Errorf("-rate-key %q: want ip, global or another reqkey spec", f.key)
	}
	cfg := ratelimit.Config{Rates: []ratelimit.Rate{r}, Key: key}
	if f.redis == "" {
		lim, err := ratelimit.New(cfg)
		if err != nil {
			return nil, noop, err
		}
		return ratelimit.Middleware(lim), noop, nil
	}
	mode, err := redisrate.ParseFailMode(f.mode)
	if err != nil {
		return nil, noop, err
	}
	client := redis.NewClient(&redis.Options{Addr: f.redis, ContextTimeoutEnabled: true})
	lim, err := redisrate.New(client, redisrate.Config{Limit: cfg, Name: "loadbalancer:" + strings.ToLower(f.key),
		OnError: mode, Instances: f.instances})
	if err != nil {
		client.Close()
		return nil, noop, err
	}
	return ratelimit.Middleware(lim), func() { client.Close() }, nil
}
