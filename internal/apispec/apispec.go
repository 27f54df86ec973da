// Package apispec checks real HTTP exchanges against keyward's OpenAPI document, for tests: a
// served route must be documented, with the status and the body it answered.
package apispec

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Spec is a loaded, validated OpenAPI document.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

// Load parses and validates doc.
func Load(doc []byte) (*Spec, error) {
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(loader.Context); err != nil {
		return nil, err
	}
	router, err := legacy.NewRouter(d)
	if err != nil {
		return nil, err
	}
	return &Spec{Doc: d, router: router}, nil
}

// Exchange is one request and the answer it got.
type Exchange struct {
	Method, Path string // Path with its query
	ReqHeader    http.Header
	ReqBody      []byte
	Status       int
	Header       http.Header
	Body         []byte
}

// Check reports, through t, an answer the document does not describe, and a successful request
// the document rejects. It returns "METHOD /template" of the route of a 2xx answer, "" otherwise.
func (s *Spec) Check(t testing.TB, x Exchange) string {
	t.Helper()
	r := httptest.NewRequest(x.Method, x.Path, bytes.NewReader(x.ReqBody))
	r.Header = x.ReqHeader.Clone()
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		// Only the fallbacks for unknown paths and methods may answer an undocumented request.
		if x.Status != http.StatusNotFound && x.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answered %d but is not in the OpenAPI document: %v", x.Method, x.Path, x.Status, err)
		}
		return ""
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	if strings.HasPrefix(x.Header.Get("Content-Type"), "text/event-stream") {
		opts.ExcludeResponseBody = true
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.Header,
		Body: io.NopCloser(bytes.NewReader(x.Body)), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", x.Method, x.Path, x.Status, err, x.Body)
	}
	if x.Status >= 300 {
		return ""
	}
	// A request that succeeded must also be one the document describes as valid.
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("%s %s succeeded but the OpenAPI document rejects the request: %v", x.Method, x.Path, err)
	}
	return route.Method + " " + route.Path
}
