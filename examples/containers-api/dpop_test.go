package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/dpoptest"
	"github.com/keyward/keyward/internal/kwtest"
)

// TestDPoPWithAThirdPartyClient: panva's oauth4webapi, unchanged, exchanges a key for a DPoP
// token at keyward, refreshes it with a proof by the same key pair, and lists containers with each
// token at the example API; the token names that key pair in cnf.jkt, and a copy of it is
// worthless: sent as a bearer token, or with the DPoP scheme and no proof, it is refused. Go's
// own client does the same.
func TestDPoPWithAThirdPartyClient(t *testing.T) {
	kw := startKeyward(t)
	api := startAPI(t, kw.URL)
	p := kw.Default.ID
	viewer := kw.createKey(t, p, "viewer", nil, "containers-view")

	r := dpoptest.Run(t, dpoptest.Config{Issuer: kw.URL, Key: viewer.Secret, Resource: containersURL(api, p)})
	if r.Error != "" {
		t.Fatalf("oauth4webapi failed: %s (code %q, status %d, body %s)", r.Error, r.Code, r.Status, r.Body)
	}
	if len(r.AlgsServed) == 0 {
		t.Error("the metadata lists no dpop_signing_alg_values_supported")
	}
	for name, tok := range map[string]dpoptest.Token{"exchanged": r.Token, "refreshed": r.Refreshed} {
		if !strings.EqualFold(tok.TokenType, "DPoP") {
			t.Errorf("%s token_type %q; want DPoP", name, tok.TokenType)
		}
		if jkt := cnfJKT(t, tok.AccessToken); jkt != r.JKT {
			t.Errorf("%s token cnf.jkt %q; want the client's key %q", name, jkt, r.JKT)
		}
	}
	if !r.Refreshed.Rotated {
		t.Error("the refresh returned the same refresh token")
	}
	for name, call := range map[string]dpoptest.Call{"exchanged": r.Call, "refreshed": r.RefreshedCall} {
		if call.Status != http.StatusOK || !strings.Contains(call.Body, `"data"`) {
			t.Errorf("GET containers with the %s token: %d %s", name, call.Status, call.Body)
		}
	}

	// The token without its key: as Bearer, and as DPoP without a proof.
	stolen := r.Refreshed.AccessToken
	if got := (apiCall{method: "GET", url: containersURL(api, p), token: stolen}).do(t); got.status != http.StatusUnauthorized {
		t.Errorf("the DPoP token sent as Bearer: %d %s", got.status, got.body)
	}
	req, _ := http.NewRequest(http.MethodGet, containersURL(api, p), nil)
	req.Header.Set("Authorization", "DPoP "+stolen)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "DPoP") {
		t.Errorf("the DPoP token without a proof: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	t.Run("the Go client", func(t *testing.T) {
		key, err := client.NewDPoPKey()
		if err != nil {
			t.Fatal(err)
		}
		ts := client.TokenSource(context.Background(), client.Config{Server: kw.URL, Key: viewer.Secret, DPoP: key})
		resp, err := client.HTTPClient(context.Background(), ts).Get(containersURL(api, p))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET containers with the Go client's DPoP token: %s", resp.Status)
		}
	})
}

// cnfJKT is the cnf.jkt claim of an access token, "" when it has none.
func cnfJKT(t *testing.T, token string) string {
	t.Helper()
	_, claims := kwtest.DecodeJWT(t, token)
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// TestDPoPServerNonceWithAThirdPartyClient: with keyward serve --dpop-nonce, oauth4webapi's first
// proof, made without a nonce, is answered use_dpop_nonce with one; it retries with it, as RFC
// 9449 §8 has clients do, and exchanges, refreshes and calls the API unchanged. Go's client
// follows the nonce too.
func TestDPoPServerNonceWithAThirdPartyClient(t *testing.T) {
	kw := startKeyward(t, "--dpop-nonce")
	api := startAPI(t, kw.URL)
	p := kw.Default.ID
	viewer := kw.createKey(t, p, "viewer", nil, "containers-view")

	// The server does ask: a proof without its nonce is refused, with the nonce to use.
	key, err := client.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := dpop.NewProof(key, http.MethodPost, kw.URL+"/oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, kw.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth(viewer.ID, viewer.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "use_dpop_nonce") || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("a proof without the nonce: %d %s, DPoP-Nonce %q", resp.StatusCode, body, resp.Header.Get("DPoP-Nonce"))
	}

	r := dpoptest.Run(t, dpoptest.Config{Issuer: kw.URL, Key: viewer.Secret, Resource: containersURL(api, p)})
	if r.Error != "" {
		t.Fatalf("oauth4webapi against a server asking for nonces: %s (code %q, status %d, body %s)", r.Error, r.Code, r.Status, r.Body)
	}
	for name, call := range map[string]dpoptest.Call{"exchanged": r.Call, "refreshed": r.RefreshedCall} {
		if call.Status != http.StatusOK {
			t.Errorf("GET containers with the %s token: %d %s", name, call.Status, call.Body)
		}
	}
	ts := client.TokenSource(context.Background(), client.Config{Server: kw.URL, Key: viewer.Secret, DPoP: key})
	tok, err := ts.Token()
	if err != nil || !strings.EqualFold(tok.TokenType, "DPoP") {
		t.Fatalf("Go's client against a server asking for nonces: %v, %v", tok, err)
	}
}
