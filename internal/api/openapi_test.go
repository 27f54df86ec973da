package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestRoutesMatchOpenAPI fails when a /v1 route is served but undocumented, or documented but
// not served.
func TestRoutesMatchOpenAPI(t *testing.T) {
	doc, _ := loadSpec(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	var served []string
	for _, rt := range (&Server{}).routes() {
		served = append(served, rt.pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("served but not in openapi.json: %s", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("in openapi.json but not served: %s", d)
		}
	}
}

// TestOpenAPIDescribesWholeSurface checks that the endpoints served by the other packages are in
// the document too, since it is the one description of keyward's HTTP interface.
func TestOpenAPIDescribesWholeSurface(t *testing.T) {
	doc, _ := loadSpec(t)
	for _, want := range []string{
		"POST /oauth/token", "POST /oauth/revoke", "POST /oauth/introspect", "POST /oauth/device_authorization",
		"GET /.well-known/oauth-authorization-server", "GET /.well-known/jwks.json",
		"GET /healthz", "GET /readyz", "GET /metrics",
	} {
		method, path, _ := strings.Cut(want, " ")
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("openapi.json does not describe %s", want)
		}
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	resp := e.do(req{method: http.MethodGet, path: "/v1/openapi.json"}).expect(t, http.StatusOK)
	if string(resp.body) != string(openAPIDocument) {
		t.Error("GET /v1/openapi.json does not serve the embedded document")
	}
}

// TestOpenAPIWebhookEvents fails when the events a webhook may subscribe to and the document's
// list of them differ, so that a new event type cannot go undocumented.
func TestOpenAPIWebhookEvents(t *testing.T) {
	doc, _ := loadSpec(t)
	ref := doc.Components.Schemas["WebhookEventType"]
	if ref == nil || ref.Value == nil {
		t.Fatal("openapi.json has no WebhookEventType schema")
	}
	var documented []string
	for _, v := range ref.Value.Enum {
		s, _ := v.(string)
		documented = append(documented, s)
	}
	if want := keyward.WebhookEvents(); !slices.Equal(documented, want) {
		t.Errorf("WebhookEventType lists %v, keyward.WebhookEvents() %v", documented, want)
	}
}
