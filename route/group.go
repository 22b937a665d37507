package route

import (
	"net/http"
	"slices"
)

// Group returns copies of rules whose Middleware lists start with
// middleware, so that a policy (a rate limit, authentication, validation)
// holds on every way into the same backend: a rewritten legacy path, a
// header- or cookie-routed canary, a body-routed variant. It is chi's
// Group for a Table's rules. middleware runs outermost, before each rule's
// own; a middleware value that keeps state (a ratelimit.Limiter's
// Middleware) shares it between the rules. Groups nest: Group(a,
// Group(b, rules...)...) runs a, then b. Neither argument is modified.
func Group(middleware []func(http.Handler) http.Handler, rules ...Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, rl := range rules {
		rl.Middleware = append(slices.Clip(slices.Clone(middleware)), rl.Middleware...)
		out[i] = rl
	}
	return out
}
