package reqkey

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatekit/gatekit/internal/header"
)

// Parse returns the key function named by spec, for command-line flags and
// configuration files:
//
//	""                   none: a nil func
//	"ip" or "client-ip"  ClientIP
//	"path"               Path
//	"route"              Route
//	"global"             Global
//	"header:NAME"        Header(NAME)
//	"cookie:NAME"        Cookie(NAME)
//	"query:NAME"         Query(NAME)
//	"apikey"             APIKey("")
//	"apikey:HEADER"      APIKey(HEADER)
//
// Kinds are case-insensitive. It returns an error for anything else.
func Parse(spec string) (func(*http.Request) string, error) {
	kind, name, hasName := strings.Cut(strings.TrimSpace(spec), ":")
	switch kind = strings.ToLower(kind); {
	case kind == "" && !hasName:
		return nil, nil
	case (kind == "ip" || kind == "client-ip") && !hasName:
		return ClientIP, nil
	case kind == "path" && !hasName:
		return Path, nil
	case kind == "route" && !hasName:
		return Route, nil
	case kind == "global" && !hasName:
		return Global, nil
	case kind == "apikey" && !hasName:
		return APIKey(""), nil
	case !hasName || name == "":
	case kind == "header" || kind == "apikey":
		if !header.IsToken(name) {
			return nil, fmt.Errorf("reqkey: key %q: invalid header name", spec)
		}
		if kind == "apikey" {
			return APIKey(name), nil
		}
		return Header(name), nil
	case kind == "cookie":
		return Cookie(name), nil
	case kind == "query":
		return Query(name), nil
	}
	return nil, fmt.Errorf("reqkey: unknown key %q (want ip, path, route, global, apikey[:HEADER], header:NAME, cookie:NAME or query:NAME)", spec)
}
