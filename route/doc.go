// Package route routes HTTP requests by host, path, method, headers, query,
// cookies and JSON body to per-rule handler chains.
//
// A [Table] is built by [New] from a slice of [Rule] values and a [Config].
// It is an http.Handler; [Table.Match] is the same decision as an engine
// that needs no server. [Table.Swap] replaces all rules atomically (an
// atomic pointer to an immutable compiled snapshot), so each request is
// routed by exactly one version.
//
// # Precedence
//
// A request is routed in these steps; the first that decides wins.
//
//  1. Method: a method that is not an RFC 9110 token, or is a case variant
//     of a standard method ("get", "GeT"), is rejected with 400.
//  2. Path: the escaped path is canonicalised ([pathcanon.Options.Canonical]
//     with [Config.Path]); a path that fails is rejected with 400.
//  3. Host ([pathcanon.Host] of r.Host): rules whose Hosts contain it
//     exactly; else rules whose wildcard is the longest suffix of it
//     ("*.a.example.com" before "*.example.com"); else rules with empty
//     Hosts; else the rules of [Config.DefaultHost]; else 421. Only the
//     chosen host group is searched further: there is no fall-through
//     to another host group.
//  4. Path pattern: the patterns of the host group that match the
//     canonical path are ordered by specificity, comparing segments left to
//     right: a static segment beats a {name:regexp} parameter, which beats a
//     {name} parameter, which beats the trailing wildcard "*"; ties are
//     broken by the pattern text. chi's radix tree finds the most specific
//     one; the less specific ones are tried only when no rule of a more
//     specific pattern serves the request (step 6), so adding a rule for
//     POST /api/orders with a body predicate does not take GET /api/orders
//     or other bodies away from a "/api/*" rule.
//  5. Method: within one pattern, rules whose Methods do not accept the
//     method are skipped. If no rule of any matching pattern accepts it, the
//     answer is 405 with an Allow header listing the methods they accept.
//  6. Predicates: within one pattern, rules are tried in order of Priority
//     (higher first), then specificity (the number of conditions: one for a
//     Methods list plus one per Headers, Query, Cookies and Body predicate;
//     more first), then position in the slice (earlier first). The first
//     whose method and predicates all hold is chosen. If no rule of any
//     matching pattern holds, the answer is 404.
//
// Priority therefore orders rules that share a host group and a pattern; it
// never makes a less specific pattern win over a more specific one.
//
// # Canonical paths
//
// The path that is matched, that the rule's middleware (policy) sees and
// that is forwarded is one and the same string: the canonical escaped path
// (see [pathcanon.Options.Canonical]). ServeHTTP passes on a shallow copy of the
// request whose URL.RawPath is that string and URL.Path its decoding, so a
// proxy such as httputil.ReverseProxy forwards it byte for byte. By default
// encoded separators (%2F, %5C), backslashes, NUL and other controls,
// invalid or overlong UTF-8, raw and encoded dot-segments (including
// "..;x"), empty interior segments and double-encoded dots, slashes and
// controls are rejected with 400 problem+json. Fields of [pathcanon.Options]
// whose names start with Insecure relax this; its CaseInsensitive and Params
// fields fold case and reject or strip ';' path parameters, for backends
// that would otherwise treat "/API/users" or "/api;x=1/users" as
// "/api/users" behind the policy of another rule.
//
// # Handlers
//
// [Group] prepends shared middleware to several rules, so that a policy
// holds on every way into one backend (a rewritten path, a header- or
// cookie-routed variant), as chi's Group does.
//
// Each rule has its own chain: Middleware (built once), then Rewrite, then
// Mirror, then exactly one of Handler, Split (weighted canary) or Redirect.
// The matched [Match] is available to the chain through [FromContext], the
// matched pattern through http.Request.Pattern (as http.ServeMux sets it,
// so reqkey.Route keys by route), and path parameters, decoded once from
// the canonical path, through http.Request.PathValue (chi.URLParam is not
// set: chi only finds the pattern).
//
// Errors are RFC 9457 problem+json (404, 405 with Allow, 421, 400) unless
// [Config.ErrorHandler] replaces the writer.
package route
