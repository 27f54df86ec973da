package server_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/apispec"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestOAuthAnswersMatchOpenAPI: the /oauth answers this round added or changed — the device
// authorization endpoint, the device_code grant's pending answer, a DPoP-bound exchange, a
// self-revocation and the metadata's new fields — are checked, as real HTTP answers of a running
// server, against the OpenAPI document that same server serves.
func TestOAuthAnswersMatchOpenAPI(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	resp, err := http.Get(s.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	spec, err := apispec.Load(doc)
	if err != nil {
		t.Fatalf("the served OpenAPI document: %v", err)
	}
	send := func(method, path string, header http.Header, form url.Values) apispec.Exchange {
		t.Helper()
		var body []byte
		if form != nil {
			body = []byte(form.Encode())
			header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		x := apispec.Exchange{Method: method, Path: path, ReqHeader: header, ReqBody: body, Status: resp.StatusCode, Header: resp.Header, Body: got}
		spec.Check(t, x)
		return x
	}

	meta := send(http.MethodGet, "/.well-known/oauth-authorization-server", http.Header{}, nil)
	for _, field := range []string{"device_authorization_endpoint", "dpop_signing_alg_values_supported", client.GrantTokenExchange, client.GrantJWTBearer} {
		if !strings.Contains(string(meta.Body), field) {
			t.Errorf("the metadata lacks %s", field)
		}
	}
	device := send(http.MethodPost, "/oauth/device_authorization", http.Header{}, url.Values{"client_id": {"keyward-cli"}})
	if device.Status != http.StatusOK {
		t.Fatalf("device authorization: %d %s", device.Status, device.Body)
	}
	var da client.DeviceAuthorization
	if err := json.Unmarshal(device.Body, &da); err != nil {
		t.Fatal(err)
	}
	pending := send(http.MethodPost, "/oauth/token", http.Header{}, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {da.DeviceCode}, "client_id": {"keyward-cli"}})
	if pending.Status != http.StatusBadRequest || !strings.Contains(string(pending.Body), "authorization_pending") {
		t.Fatalf("device_code before approval: %d %s", pending.Status, pending.Body)
	}

	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "bound", Permissions: []string{"images-view"}})
	key, err := client.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := dpop.NewProof(key, http.MethodPost, s.Config.Issuer+"/oauth/token", dpop.WithTime(s.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Dpop": {proof}}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(k.ID)+":"+url.QueryEscape(k.Secret))))
	bound := send(http.MethodPost, "/oauth/token", h, url.Values{"grant_type": {"client_credentials"}})
	if bound.Status != http.StatusOK || !strings.Contains(string(bound.Body), `"token_type":"DPoP"`) {
		t.Fatalf("DPoP exchange: %d %s", bound.Status, bound.Body)
	}
	// Introspection says the token is DPoP-bound, and to which key (RFC 9449 §6.2).
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(bound.Body, &tok); err != nil {
		t.Fatal(err)
	}
	ih := http.Header{}
	ih.Set("Authorization", "Bearer "+admin)
	in := send(http.MethodPost, "/oauth/introspect", ih, url.Values{"token": {tok.AccessToken}})
	if in.Status != http.StatusOK || !strings.Contains(string(in.Body), `"token_type":"DPoP"`) || !strings.Contains(string(in.Body), `"cnf":{"jkt":"`+dpop.Thumbprint(key.Public())+`"}`) {
		t.Errorf("introspection of a DPoP token: %d %s", in.Status, in.Body)
	}
	revoked := send(http.MethodPost, "/oauth/revoke", http.Header{}, url.Values{"token": {k.Secret}, "token_type_hint": {"api_key"}})
	if revoked.Status != http.StatusOK {
		t.Fatalf("self-revocation: %d %s", revoked.Status, revoked.Body)
	}
}
