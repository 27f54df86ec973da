package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/federation/fedtest"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/oidctest"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/middleware"
	"github.com/keyward/keyward/revocation"
)

// unsigned builds a token with the given header whose signature is sig over header.payload.
func unsigned(t *testing.T, header, payload map[string]any, sig func(signingInput string) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig(in))
}

func federationServer(t *testing.T, opts ...kwtest.Option) *kwtest.Server {
	return kwtest.Start(t, append([]kwtest.Option{unthrottled, func(c *server.Config) { c.FederationAllowInsecure = true }}, opts...)...)
}

func fedExchange(t *testing.T, s *kwtest.Server, subjectToken string, extra url.Values, opts ...kwtest.RequestOption) *kwtest.Response {
	t.Helper()
	form := url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {subjectToken}, "subject_token_type": {client.TokenTypeJWT}}
	for k, v := range extra {
		form[k] = v
	}
	return s.TokenRequest(t, form, opts...)
}

func apiOK(t *testing.T, s *kwtest.Server, method, path, bearer string, body any, want int, out any) {
	t.Helper()
	r := s.API(t, method, path, bearer, body)
	if r.Status != want {
		t.Fatalf("%s %s: %s", method, path, r)
	}
	if out != nil {
		r.JSON(t, out)
	}
}

func TestFederatedExchange(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	gh := fedtest.New(t, "k1")
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view", "images-view"}, IPs: []string{"10.0.0.0/8"}})
	var issuer client.FederationIssuer
	apiOK(t, s, "POST", "/v1/projects/default/federation/issuers", admin, map[string]any{
		"name": "ci", "issuer": gh.URL, "audiences": []string{fedtest.Audience}}, http.StatusCreated, &issuer)
	var rule client.FederationRule
	apiOK(t, s, "POST", "/v1/projects/default/federation/rules", admin, map[string]any{
		"name": "deploy", "issuer": "ci", "target": "key:" + key.ID, "ttl": "10m",
		"conditions": map[string]string{"repository": "octo/app", "ref": "refs/heads/*", "repository_id": "42"}}, http.StatusCreated, &rule)
	claims := map[string]any{"repository": "octo/app", "ref": "refs/heads/main", "repository_id": 42}
	from := kwtest.From("10.1.2.3")

	t.Run("token exchange", func(t *testing.T) {
		now := s.Clock.Now()
		r := fedExchange(t, s, gh.Sign(t, now, claims), nil, from)
		tok := requireFederatedToken(t, r)
		var body map[string]any
		r.JSON(t, &body)
		if _, ok := body["refresh_token"]; ok || tok.IssuedTokenType != client.TokenTypeAccessToken || tok.ExpiresIn != 300 {
			t.Errorf("answer %s: want no refresh token, issued_token_type, and the subject token's 5 minutes left", r)
		}
		if tok.Scope != "containers-view images-view" {
			t.Errorf("scope %q", tok.Scope)
		}
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		act, _ := c["act"].(map[string]any)
		if c["sub"] != "key:"+key.ID || c["client_id"] != key.ID || c["federation_rule"] != rule.ID ||
			act["sub"] != "repo:octo/app:ref:refs/heads/main" || act["iss"] != gh.URL {
			t.Errorf("access token claims %v", c)
		}
		in := kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		if in.Sub != "key:"+key.ID {
			t.Errorf("introspection %+v", in)
		}
		// The rule's ttl bounds a long-lived subject token; a narrower scope may be asked.
		r = fedExchange(t, s, gh.Sign(t, now, merge(claims, map[string]any{"exp": now.Add(time.Hour).Unix()})), url.Values{"scope": {"images-view"}}, from)
		if tok := requireFederatedToken(t, r); tok.ExpiresIn != 600 || tok.Scope != "images-view" {
			t.Errorf("answer %s: want 10 minutes and the asked scope", r)
		}
	})

	t.Run("JWT bearer", func(t *testing.T) {
		r := s.TokenRequest(t, url.Values{"grant_type": {client.GrantJWTBearer}, "assertion": {gh.Sign(t, s.Clock.Now(), claims)}}, from)
		if tok := requireFederatedToken(t, r); tok.IssuedTokenType != "" || tok.RefreshToken != "" {
			t.Errorf("answer %s", r)
		}
	})

	t.Run("the key's networks apply", func(t *testing.T) {
		r := fedExchange(t, s, gh.Sign(t, s.Clock.Now(), claims), nil, kwtest.From("192.0.2.7"))
		kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "unauthorized_client")
	})

	t.Run("metadata lists both grants", func(t *testing.T) {
		md := s.Metadata(t)
		if !strings.Contains(strings.Join(md.GrantTypesSupported, " "), client.GrantTokenExchange+" "+client.GrantJWTBearer) {
			t.Errorf("grant_types_supported %v", md.GrantTypesSupported)
		}
	})

	t.Run("deleting the rule ends its tokens", func(t *testing.T) {
		tok := requireFederatedToken(t, fedExchange(t, s, gh.Sign(t, s.Clock.Now(), claims), nil, from))
		kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		tail := feedTail(t, s)
		apiOK(t, s, "DELETE", "/v1/projects/default/federation/rules/deploy", admin, nil, http.StatusNoContent, nil)
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		if !feedNames(t, s, tail, c["sid"].(string)) {
			t.Errorf("the revocation feed does not name the token's session %v", c["sid"])
		}
		r := fedExchange(t, s, gh.Sign(t, s.Clock.Now(), claims), nil, from)
		if e := kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant"); !strings.Contains(e.Description, "No rule") {
			t.Errorf("description %q", e.Description)
		}
		// Audited: the exchanges, and the refusal, in the project's log.
		events := s.Audit(t, admin, "default")
		var federated, failed int
		for _, e := range events {
			switch e.Action {
			case "token.federated":
				federated++
			case "token.exchange_failed":
				failed++
			}
		}
		if federated < 3 || failed == 0 {
			t.Errorf("audit: %d token.federated, %d token.exchange_failed", federated, failed)
		}
	})
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestFederationHostileTokens: every forged, stale, replayed or misdirected subject token is
// refused with invalid_grant naming the failed check, never with a token or a 5xx.
func TestFederationHostileTokens(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	good := fedtest.New(t, "k1")
	other := fedtest.New(t, "k2") // trusted by another project only
	liar := fedtest.New(t, "k3")  // its discovery document names another issuer
	liar.ClaimedIssuer = "https://accounts.example.com"
	s.CreateProject(t, admin, "elsewhere")
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	okey := s.CreateKey(t, admin, "elsewhere", kwtest.KeyRequest{Name: "theirs", Permissions: []string{"containers-view"}})
	for _, c := range []struct {
		project string
		iss     *fedtest.Issuer
		key     string
	}{{"default", good, key.ID}, {"default", liar, key.ID}, {"elsewhere", other, okey.ID}} {
		name := "i" + c.iss.KID
		apiOK(t, s, "POST", "/v1/projects/"+c.project+"/federation/issuers", admin, map[string]any{
			"name": name, "issuer": c.iss.URL, "audiences": []string{fedtest.Audience}}, http.StatusCreated, nil)
		apiOK(t, s, "POST", "/v1/projects/"+c.project+"/federation/rules", admin, map[string]any{
			"name": "r" + c.iss.KID, "issuer": name, "target": "key:" + c.key,
			"conditions": map[string]string{"repository": "octo/app"}}, http.StatusCreated, nil)
	}
	now := s.Clock.Now()
	meets := map[string]any{"repository": "octo/app"}
	pub, _ := x509.MarshalPKIXPublicKey(&good.Key.PublicKey)
	replayed := good.Sign(t, now, meets)
	requireFederatedToken(t, fedExchange(t, s, replayed, nil))
	if r := fedExchange(t, s, other.Sign(t, now, meets), url.Values{"project": {"elsewhere"}}); r.Status != http.StatusOK {
		t.Fatalf("the other project's issuer: %s", r) // it works there: refused below only here
	}

	for _, c := range []struct {
		name, token string
		extra       url.Values
		says        string
	}{
		{"wrong aud", good.Sign(t, now, merge(meets, map[string]any{"aud": "someone-else"})), nil, "audience"},
		{"expired", good.Sign(t, now, merge(meets, map[string]any{"exp": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix()})), nil, "expired"},
		{"no exp", good.Sign(t, now, merge(meets, map[string]any{"exp": nil})), nil, "no exp"},
		{"not yet valid", good.Sign(t, now, merge(meets, map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})), nil, "not valid yet"},
		{"issued in the future", good.Sign(t, now, merge(meets, map[string]any{"iat": now.Add(time.Hour).Unix()})), nil, "future"},
		{"alg none", unsigned(t, map[string]any{"alg": "none", "kid": "k1"}, merge(meets, map[string]any{"iss": good.URL, "aud": fedtest.Audience, "sub": "x", "exp": now.Add(time.Minute).Unix()}),
			func(string) []byte { return nil }), nil, "signature"},
		{"HS256 keyed with the issuer's public key", unsigned(t, map[string]any{"alg": "HS256", "kid": "k1", "typ": "JWT"},
			merge(meets, map[string]any{"iss": good.URL, "aud": fedtest.Audience, "sub": "x", "exp": now.Add(time.Minute).Unix()}),
			func(in string) []byte { m := hmac.New(sha256.New, pub); m.Write([]byte(in)); return m.Sum(nil) }), nil, "signature"},
		{"a kid of another issuer", func() string {
			// Signed by the other issuer's key, claiming to be the trusted one.
			forged := &fedtest.Issuer{URL: good.URL, KID: other.KID, Key: other.Key}
			return forged.Sign(t, now, meets)
		}(), nil, "no key with its kid"},
		{"the trusted kid, another key", func() string {
			forged := &fedtest.Issuer{URL: good.URL, KID: good.KID, Key: other.Key}
			return forged.Sign(t, now, meets)
		}(), nil, "signature"},
		{"a condition unmet", good.Sign(t, now, map[string]any{"repository": "octo/other"}), nil, "No rule"},
		{"a condition's claim missing", good.Sign(t, now, nil), nil, "No rule"},
		{"replayed jti", replayed, nil, "already used"},
		{"an issuer trusted by another project only", other.Sign(t, now, meets), url.Values{"project": {"default"}}, "No rule"},
		{"an untrusted issuer", fedtest.New(t, "k9").Sign(t, now, meets), nil, "not trusted"},
		{"iss differs from the discovery document's", liar.Sign(t, now, meets), nil, "discovery document"},
		{"not a JWT", "not.a.jwt", nil, "well-formed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := fedExchange(t, s, c.token, c.extra)
			e := kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
			if !strings.Contains(e.Description, c.says) {
				t.Errorf("description %q does not say %q", e.Description, c.says)
			}
			if strings.Contains(e.Description, "octo") {
				t.Errorf("description %q reveals a rule's condition", e.Description)
			}
		})
	}

	t.Run("a missing parameter", func(t *testing.T) {
		r := s.TokenRequest(t, url.Values{"grant_type": {client.GrantTokenExchange}, "subject_token": {replayed}})
		kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_request")
		r = s.TokenRequest(t, url.Values{"grant_type": {client.GrantJWTBearer}})
		kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_request")
		r = fedExchange(t, s, replayed, url.Values{"subject_token_type": {client.TokenTypeAccessToken}})
		kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_request")
	})
}

// TestFederationIssuerDown: an issuer whose keys cannot be fetched fails closed with 503 and
// Retry-After.
func TestFederationIssuerDown(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + l.Addr().String()
	l.Close() // nothing listens there any more
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	apiOK(t, s, "POST", "/v1/projects/default/federation/issuers", admin, map[string]any{
		"name": "gone", "issuer": gone, "audiences": []string{fedtest.Audience}}, http.StatusCreated, nil)
	apiOK(t, s, "POST", "/v1/projects/default/federation/rules", admin, map[string]any{
		"name": "r", "issuer": "gone", "target": "key:" + key.ID, "conditions": map[string]string{"sub": "*"}}, http.StatusCreated, nil)
	forged := &fedtest.Issuer{URL: gone, KID: "k1", Key: fedtest.New(t, "k1").Key}
	for range 2 { // the second is answered from the remembered failure
		r := fedExchange(t, s, forged.Sign(t, s.Clock.Now(), nil), nil)
		kwtest.RequireOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After: %s", r)
		}
	}
}

// TestFederatedRoleTarget: a rule targeting a role issues tokens of the rule, holding the
// role's permissions; narrowing the role ends them.
func TestFederatedRoleTarget(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	gh := fedtest.New(t, "k1")
	apiOK(t, s, "POST", "/v1/projects/default/roles", admin, map[string]any{"name": "shipper", "permissions": []string{"images-view", "images-manage"}}, http.StatusCreated, nil)
	apiOK(t, s, "POST", "/v1/projects/default/federation/issuers", admin, map[string]any{
		"name": "ci", "issuer": gh.URL, "audiences": []string{fedtest.Audience}}, http.StatusCreated, nil)
	var rule client.FederationRule
	apiOK(t, s, "POST", "/v1/projects/default/federation/rules", admin, map[string]any{
		"name": "ship", "issuer": "ci", "target": "role:shipper", "conditions": map[string]string{"sub": "repo:octo/app:*"}}, http.StatusCreated, &rule)
	tok := requireFederatedToken(t, fedExchange(t, s, gh.Sign(t, s.Clock.Now(), nil), nil))
	_, c := kwtest.DecodeJWT(t, tok.AccessToken)
	if c["sub"] != "federated:"+rule.ID || c["scope"] != "images-view images-manage" || c["project"] == "" {
		t.Errorf("claims %v", c)
	}
	// A resource server takes it: the subject names the rule.
	if c, err := follower(t, s).Verify(tok.AccessToken); err != nil || c.Subject != "federated:"+rule.ID || c.KeyID != "" || c.UserID != "" {
		t.Errorf("the resource server's view of a role target's token: %+v %v", c, err)
	}
	tail := feedTail(t, s)
	apiOK(t, s, "PATCH", "/v1/projects/default/roles/shipper", admin, map[string]any{"permissions": []string{"images-view"}}, http.StatusOK, nil)
	if !feedNames(t, s, tail, c["sid"].(string)) {
		t.Errorf("narrowing the role did not end the federated token's session")
	}
}

// feedTail returns the revocation feed's cursor after its newest entry.
func feedTail(t *testing.T, s *kwtest.Server) string {
	t.Helper()
	cursor := ""
	for {
		var page client.RevocationPage
		path := "/v1/revocations"
		if cursor != "" {
			path += "?after=" + url.QueryEscape(cursor)
		}
		apiOK(t, s, "GET", path, "", nil, http.StatusOK, &page)
		if len(page.Data) == 0 {
			return cursor
		}
		cursor = page.Cursor
	}
}

// feedNames reports whether the feed after cursor names the session sid.
func feedNames(t *testing.T, s *kwtest.Server, cursor, sid string) bool {
	t.Helper()
	var page client.RevocationPage
	path := "/v1/revocations"
	if cursor != "" {
		path += "?after=" + url.QueryEscape(cursor)
	}
	apiOK(t, s, "GET", path, "", nil, http.StatusOK, &page)
	for _, e := range page.Data {
		if e.Type == "session" && e.ID == revocation.Name("session", sid) {
			return true
		}
	}
	return false
}

// requireFederatedToken checks a federated grant's answer: 200 with an access token and no
// refresh token.
func requireFederatedToken(t *testing.T, r *kwtest.Response) *kwtest.Token {
	t.Helper()
	var tok kwtest.Token
	if r.Status != http.StatusOK {
		t.Fatalf("token request failed: %s", r)
	}
	r.JSON(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken != "" {
		t.Fatalf("want an access token and no refresh token: %s", r)
	}
	kwtest.RequireNoStore(t, r)
	return &tok
}

// TestFederatedTokenEndsAtResourceServer: a resource server following the revocation feed
// accepts a federated token, and refuses it within a second of its rule's deletion.
func TestFederatedTokenEndsAtResourceServer(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	gh := fedtest.New(t, "k1")
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	apiOK(t, s, "POST", "/v1/projects/default/federation/issuers", admin, map[string]any{
		"name": "ci", "issuer": gh.URL, "audiences": []string{fedtest.Audience}}, http.StatusCreated, nil)
	apiOK(t, s, "POST", "/v1/projects/default/federation/rules", admin, map[string]any{
		"name": "deploy", "issuer": "ci", "target": "key:" + key.ID, "conditions": map[string]string{"sub": "repo:octo/app:*"}}, http.StatusCreated, nil)
	tok := requireFederatedToken(t, fedExchange(t, s, gh.Sign(t, s.Clock.Now(), nil), nil))

	v := follower(t, s)
	c, err := v.Verify(tok.AccessToken)
	if err != nil || c.KeyID != key.ID || strings.Join(c.Permissions, " ") != "containers-view" {
		t.Fatalf("the resource server refuses the federated token: %+v %v", c, err)
	}
	apiOK(t, s, "DELETE", "/v1/projects/default/federation/rules/deploy", admin, nil, http.StatusNoContent, nil)
	deleted := time.Now()
	for {
		if _, err := v.Verify(tok.AccessToken); err != nil {
			t.Logf("refused %v after the rule's deletion: %v", time.Since(deleted), err)
			break
		}
		if time.Since(deleted) > 5*time.Second {
			t.Fatal("the resource server still accepts the token 5 s after its rule was deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// follower is a resource server's verifier following s's revocation feed.
func follower(t *testing.T, s *kwtest.Server) *middleware.Verifier {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	v, err := middleware.New(ctx, middleware.Config{Issuer: s.Config.Issuer, HTTPClient: s.HTTP.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// TestFederationFromSecondKeyward: another keyward is an issuer like any other: its access tokens,
// discovered through RFC 8414 metadata, exchange through both grants.
func TestFederationFromSecondKeyward(t *testing.T) {
	s := federationServer(t)
	admin := s.AdminToken(t)
	upstream := oidctest.StartKeyward(t, s.Config.Issuer)
	key := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deployer", Permissions: []string{"containers-view"}})
	apiOK(t, s, "POST", "/v1/projects/default/federation/issuers", admin, map[string]any{
		"name": "upstream", "issuer": upstream.Issuer, "audiences": []string{s.Config.Issuer}}, http.StatusCreated, nil)
	apiOK(t, s, "POST", "/v1/projects/default/federation/rules", admin, map[string]any{
		"name": "workload", "issuer": "upstream", "target": "key:" + key.ID,
		"conditions": map[string]string{"sub": "key:" + kwtest.KeyID(t, upstream.Key)}}, http.StatusCreated, nil)
	tok := requireFederatedToken(t, fedExchange(t, s, upstream.Token(t), nil))
	_, c := kwtest.DecodeJWT(t, tok.AccessToken)
	if act, _ := c["act"].(map[string]any); act["iss"] != upstream.Issuer || c["sub"] != "key:"+key.ID {
		t.Errorf("claims %v", c)
	}
	requireFederatedToken(t, s.TokenRequest(t, url.Values{"grant_type": {client.GrantJWTBearer}, "assertion": {upstream.Token(t)}}))
}
