package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// kinRef is kin-openapi's own validation pipeline on a separate copy of the
// shop spec: a router's FindRoute, then openapi3filter.ValidateRequest. It
// is the reference the fuzz targets and benchmarks compare against.
type kinRef struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newKinRef(t testing.TB, legacyRouter bool) *kinRef {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("testdata/shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// kin-openapi matches servers by host; the gateway receives requests at
	// its own host, so give the reference the bare paths (kin-openapi #356).
	doc.Servers = nil
	var r routers.Router
	if legacyRouter {
		r, err = legacy.NewRouter(doc)
	} else {
		r, err = gorillamux.NewRouter(doc)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &kinRef{router: r, opts: &openapi3filter.Options{
		MultiError:              true,
		SkipSettingDefaults:     true,
		SchemaValidationOptions: formatOptions(),
		AuthenticationFunc: func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
			return testAuth(ctx, &AuthInput{Request: in.RequestValidationInput.Request, SchemeName: in.SecuritySchemeName, Scheme: in.SecurityScheme, Scopes: in.Scopes})
		},
	}}
}

// validate runs kin-openapi's pipeline on r with body.
func (k *kinRef) validate(r *http.Request, body []byte) error {
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	route, params, err := k.router.FindRoute(r)
	if err != nil {
		return err
	}
	return openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route, Options: k.opts,
	})
}

func jsonUnmarshalNumber(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}
