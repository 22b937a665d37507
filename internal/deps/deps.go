//go:build tools

// Package deps pins the module's dependencies while the packages that use them are written.
package deps

import (
	_ "github.com/dgraph-io/ristretto/v2"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/getkin/kin-openapi/routers/gorillamux"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/acme/autocert"
	_ "golang.org/x/time/rate"
)
