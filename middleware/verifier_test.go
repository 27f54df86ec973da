package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/accesstoken"
)

// serve sends one request through v.Handler to a handler that reports the caller.
func serve(v *Verifier, r *http.Request) (*httptest.ResponseRecorder, *Caller) {
	var got *Caller
	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, got
}

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/projects/prj_1/containers", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestVerifyValidToken(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock)

	w, c := serve(v, bearerRequest(is.mint(is.claims(clock.Now()), nil)))
	if w.Code != http.StatusNoContent || c == nil {
		t.Fatalf("status %d (%s); want the handler to run", w.Code, w.Body)
	}
	want := &Caller{
		Subject: "key:AAAAAAAAAAAAAAAA", KeyID: "AAAAAAAAAAAAAAAA", Project: "prj_1",
		Permissions: []string{"containers-view", "images-view"}, SessionID: "ses_1",
		ClientID: "AAAAAAAAAAAAAAAA", TokenID: "jti-1", Expiry: clock.Now().Add(time.Hour).UTC(),
	}
	if !equalCaller(c, want) {
		t.Errorf("caller %+v\nwant   %+v", c, want)
	}
	if !c.Has("containers-view") || c.Has("containers-view", "containers-manage") {
		t.Errorf("Has is wrong for %v", c.Permissions)
	}

	user := is.claims(clock.Now())
	user["sub"], user["client_id"] = "user:usr_1", "keyward"
	delete(user, "project")
	_, c = serve(v, bearerRequest(is.mint(user, nil)))
	if c == nil || c.UserID != "usr_1" || c.KeyID != "" || c.Project != "" {
		t.Errorf("user token gave caller %+v", c)
	}
}

func equalCaller(a, b *Caller) bool {
	return a.Subject == b.Subject && a.KeyID == b.KeyID && a.UserID == b.UserID && a.Project == b.Project &&
		slices.Equal(a.Permissions, b.Permissions) && a.SessionID == b.SessionID && a.ClientID == b.ClientID &&
		a.TokenID == b.TokenID && a.Expiry.Equal(b.Expiry) && slices.Equal(a.Networks, b.Networks)
}

// TestVerifyRefuses lists tokens that must never pass, each for the reason in its description.
func TestVerifyRefuses(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock, func(c *Config) { c.Algorithms = []string{"ES256", "EdDSA"} })
	now := clock.Now()
	with := func(change func(map[string]any)) string {
		c := is.claims(now)
		change(c)
		return is.mint(c, nil)
	}
	headers := func(h map[jose.HeaderKey]any) string { return is.mint(is.claims(now), h) }

	// A key that is not the issuer's, advertised in the token's own headers.
	attacker := is.newKey("k1")
	attackerJWK := jose.JSONWebKey{Key: attacker.key.(*ecdsa.PrivateKey).Public(), KeyID: "k1", Algorithm: "ES256"}
	es384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	tests := []struct {
		name, token, want string
	}{
		{"another issuer", with(func(c map[string]any) { c["iss"] = "https://evil.example" }), "another issuer"},
		{"another audience", with(func(c map[string]any) { c["aud"] = "https://api.other.example" }), "another audience"},
		{"audience list without ours", with(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), "another audience"},
		{"expired beyond leeway", with(func(c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() }), "expired"},
		{"no exp", with(func(c map[string]any) { delete(c, "exp") }), "lacks required claims"},
		{"no sub", with(func(c map[string]any) { delete(c, "sub") }), "lacks required claims"},
		{"no iat", with(func(c map[string]any) { delete(c, "iat") }), "lacks required claims"},
		{"no jti", with(func(c map[string]any) { delete(c, "jti") }), "lacks required claims"},
		{"not valid yet", with(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }), "not valid yet"},
		{"issued in the future", with(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }), "issued in the future"},
		{"subject of another kind", with(func(c map[string]any) { c["sub"] = "svc:x" }), "neither a key nor a user"},
		{"key subject without id", with(func(c map[string]any) { c["sub"] = "key:" }), "neither a key nor a user"},
		{"federated subject without its rule claim", with(func(c map[string]any) { c["sub"] = "federated:fru_x" }), "neither a key nor a user"},
		{"federated subject naming another rule", with(func(c map[string]any) { c["sub"], c["federation_rule"] = "federated:fru_x", "fru_y" }), "neither a key nor a user"},
		{"client_id of another key", with(func(c map[string]any) { c["client_id"] = "BBBBBBBBBBBBBBBB" }), "client_id does not match"},
		{"malformed ips", with(func(c map[string]any) { c["ips"] = []string{"10.0.0.0/8", "not-an-ip"} }), "network restriction is malformed"},
		{"exp of the wrong type", with(func(c map[string]any) { c["exp"] = "tomorrow" }), "claims are malformed"},
		{"typ JWT", headers(map[jose.HeaderKey]any{"typ": "JWT"}), "typ must be at+jwt"},
		{"crit", headers(map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}), "critical headers"},
		{"b64", headers(map[jose.HeaderKey]any{"b64": true}), "unsupported headers"},
		{"no kid", withoutKid(t, is, now), "names no signing key"},
		{"unknown kid", mintWith(t, signingKey{kid: "nope", alg: jose.ES256, key: attacker.key}, is.claims(now), nil), "unknown key"},
		{"embedded jwk is ignored", mintWith(t, attacker, is.claims(now), map[jose.HeaderKey]any{"jwk": attackerJWK}), "signature is invalid"},
		{"jku is ignored", mintWith(t, attacker, is.claims(now), map[jose.HeaderKey]any{"jku": is.URL + "/evil-jwks"}), "signature is invalid"},
		{"x5u is ignored", mintWith(t, attacker, is.claims(now), map[jose.HeaderKey]any{"x5u": is.URL + "/evil.pem"}), "signature is invalid"},
		{"algorithm not allowed", mintWith(t, signingKey{kid: "k1", alg: jose.ES384, key: es384}, is.claims(now), nil), "algorithm is not allowed"},
		{"allowed algorithm, wrong for the key", mintWith(t, signingKey{kid: "k1", alg: jose.EdDSA, key: edKey}, is.claims(now), nil), "does not match its signing key"},
		{"alg none", unsigned(t, is, now, "none", nil), "algorithm is not allowed"},
		{"HS256 with the public key as secret", hs256WithPublicKey(t, is, now), "algorithm is not allowed"},
		{"signature of other claims", spliceSignature(t, is, now), "signature is invalid"},
		{"two dots only", "a.b", "malformed"},
		{"padding", is.mint(is.claims(now), nil) + "=", "malformed"},
		{"non-canonical trailing bits in the signature", flipUnusedBit(is.mint(is.claims(now), nil)), "malformed"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, "malformed"},
		{"too long", strings.Repeat("a", accesstoken.MaxLength+1), "too long"},
		{"raw API key", "kw_AAAAAAAAAAAAAAAA" + strings.Repeat("b", 32) + "cccccc", "This is an API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify accepted the token (caller %+v, err %v)", c, err)
			}
			if e.Status != http.StatusUnauthorized || e.Code != CodeInvalidToken || !strings.Contains(e.Description, tt.want) {
				t.Fatalf("error %+v; want 401 invalid_token saying %q", e, tt.want)
			}
			if strings.Contains(e.Description, tt.token) {
				t.Errorf("the description repeats the token")
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	now := clock.Now()
	c := is.claims(now)
	c["exp"] = now.Add(-20 * time.Second).Unix()
	c["nbf"] = now.Add(20 * time.Second).Unix()
	tok := is.mint(c, nil)
	if _, err := newVerifier(t, is, clock).Verify(tok); err != nil {
		t.Errorf("default leeway (30 s): %v", err)
	}
	if _, err := newVerifier(t, is, clock, func(c *Config) { c.Leeway = 10 * time.Second }).Verify(tok); err == nil {
		t.Errorf("a 10 s leeway accepted a token 20 s past its expiry")
	}
	if _, err := newVerifier(t, is, clock, func(c *Config) { c.Leeway = -1 }).Verify(tok); err == nil {
		t.Errorf("no leeway accepted an expired token")
	}
}

func TestVerifyAudience(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	c := is.claims(clock.Now())
	c["aud"] = []string{"https://api.example", "https://other.example"}
	tok := is.mint(c, nil)
	if _, err := newVerifier(t, is, clock, func(c *Config) { c.Audience = "https://api.example" }).Verify(tok); err != nil {
		t.Errorf("configured audience in an aud list: %v", err)
	}
	if _, err := newVerifier(t, is, clock).Verify(tok); err == nil {
		t.Errorf("the default audience (the issuer) accepted a token for other audiences")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	is := newTestIssuer(t)
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no issuer", Config{}, "must be the keyward server's URL"},
		{"issuer with a query", Config{Issuer: is.URL + "?x=1"}, "must be the keyward server's URL"},
		{"HS256", Config{Issuer: is.URL, Algorithms: []string{"HS256"}}, "not allowed"},
		{"none", Config{Issuer: is.URL, Algorithms: []string{"none"}}, "not allowed"},
		{"issuer differs from the metadata", Config{Issuer: is.URL + "/"}, "names the issuer"},
		{"realm with a quote", Config{Issuer: is.URL, Realm: `a"b`}, "Realm"},
		{"unreachable issuer", Config{Issuer: "http://127.0.0.1:1"}, "discovering the issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(t.Context(), tt.c)
			if err == nil {
				v.Close()
				t.Fatal("New accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v; want %q", err, tt.want)
			}
		})
	}
}

func withoutKid(t *testing.T, is *testIssuer, now time.Time) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: is.keys[0].key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(is.claims(now))
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func b64(v any) string {
	data, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(data)
}

// unsigned builds a token with the given alg and signature bytes.
func unsigned(t *testing.T, is *testIssuer, now time.Time, alg string, sig []byte) string {
	header := map[string]any{"alg": alg, "typ": "at+jwt", "kid": "k1"}
	return b64(header) + "." + b64(is.claims(now)) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hs256WithPublicKey is the classic algorithm confusion: an HMAC keyed with the public key a
// careless verifier would pass to its HMAC check.
func hs256WithPublicKey(t *testing.T, is *testIssuer, now time.Time) string {
	pub, _ := json.Marshal(jose.JSONWebKey{Key: is.keys[0].key.(*ecdsa.PrivateKey).Public(), KeyID: "k1"})
	header := b64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
	payload := b64(is.claims(now))
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(header + "." + payload))
	return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// spliceSignature puts a real signature under different claims.
func spliceSignature(t *testing.T, is *testIssuer, now time.Time) string {
	good := strings.Split(is.mint(is.claims(now), nil), ".")
	c := is.claims(now)
	c["scope"] = "containers-manage billing-manage"
	return good[0] + "." + b64(c) + "." + good[2]
}

func TestAuthorizationHeader(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock, func(c *Config) { c.Realm = "containers" })
	tok := is.mint(is.claims(clock.Now()), nil)
	tests := []struct {
		name      string
		headers   []string
		url       string
		status    int
		challenge string // "" means: no WWW-Authenticate expected
	}{
		{"valid", []string{"Bearer " + tok}, "", 204, ""},
		{"scheme in lower case", []string{"bearer " + tok}, "", 204, ""},
		{"several spaces", []string{"Bearer   " + tok}, "", 204, ""},
		{"missing", nil, "", 401, `Bearer realm="containers"`},
		{"Basic", []string{"Basic YTpi"}, "", 401, `Bearer realm="containers"`},
		{"no token", []string{"Bearer"}, "", 400, `Bearer realm="containers", error="invalid_request", error_description="The Authorization header has no token after its scheme."`},
		{"DPoP without a proof", []string{"DPoP " + tok}, "", 401, `DPoP realm="containers", error="invalid_token"`},
		{"only spaces", []string{"Bearer   "}, "", 400, `error="invalid_request"`},
		{"empty", []string{""}, "", 400, `error="invalid_request"`},
		{"bad characters", []string{"Bearer " + tok + "\"x"}, "", 400, `error="invalid_request"`},
		{"comma", []string{"Bearer a,b"}, "", 400, `error="invalid_request"`},
		{"two headers", []string{"Bearer " + tok, "Bearer " + tok}, "", 400, `error_description="The request has more than one Authorization header."`},
		{"token in the query", []string{"Bearer " + tok}, "/x?access_token=abc", 400, `error_description="Send the access token in the Authorization header, not in the URL."`},
		{"garbage token", []string{"Bearer abc"}, "", 401, `error="invalid_token", error_description="The access token is malformed."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				u = "/x"
			}
			r := httptest.NewRequest("GET", u, nil)
			r.RemoteAddr = "127.0.0.1:1"
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			w, _ := serve(v, r)
			if w.Code != tt.status {
				t.Fatalf("status %d (%s); want %d", w.Code, w.Body, tt.status)
			}
			got := w.Header().Get("WWW-Authenticate")
			if tt.challenge == "" && got != "" || !strings.Contains(got, tt.challenge) {
				t.Errorf("WWW-Authenticate %q; want it to contain %q", got, tt.challenge)
			}
			if tt.status != 204 && w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("error without Cache-Control: no-store")
			}
		})
	}
}

func TestRawAPIKeyGetsExchangeAdvice(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock)
	w, _ := serve(v, bearerRequest("kw_AAAAAAAAAAAAAAAA"+strings.Repeat("b", 32)+"cccccc"))
	if w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
	challenge := w.Header().Get("WWW-Authenticate")
	for _, want := range []string{`error="invalid_token"`, "This is an API key", "Exchange it first at " + is.URL + "/oauth/token"} {
		if !strings.Contains(challenge, want) {
			t.Errorf("WWW-Authenticate %q lacks %q", challenge, want)
		}
	}
	var body struct {
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Description, "grant_type=client_credentials") {
		t.Errorf("body %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "bbbbbbbb") || strings.Contains(challenge, "bbbbbbbb") {
		t.Errorf("the answer repeats the key")
	}
}

func TestRequirePermission(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	caller := &Caller{Subject: "key:x", Permissions: []string{"containers-view"}}
	tests := []struct {
		name   string
		perms  []string
		caller *Caller
		status int
		scope  string
	}{
		{"held", []string{"containers-view"}, caller, 204, ""},
		{"none needed", nil, caller, 204, ""},
		{"missing", []string{"containers-manage"}, caller, 403, "containers-manage"},
		{"one of two missing", []string{"containers-view", "images-view"}, caller, 403, "containers-view images-view"},
		{"not behind Handler", []string{"containers-view"}, nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/x", nil)
			if tt.caller != nil {
				r = r.WithContext(NewContext(r.Context(), tt.caller))
			}
			w := httptest.NewRecorder()
			RequirePermission(tt.perms...)(ok).ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d; want %d", w.Code, tt.status)
			}
			if tt.status == 403 {
				want := `Bearer error="insufficient_scope", error_description="The access token lacks a permission this needs: ` + tt.scope + `.", scope="` + tt.scope + `"`
				if got := w.Header().Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

// TestRequirePermissionBindsProject runs the README's handler chain: a key of one project holding
// the permission must not act on another project's path.
func TestRequirePermissionBindsProject(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock)
	create := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) }
	mux := http.NewServeMux()
	mux.Handle("POST /v1/projects/{project}/containers",
		RequirePermission("containers-manage")(http.HandlerFunc(create)))
	mux.Handle("GET /v1/tenants/{tenant}/containers",
		RequireProject("tenant")(http.HandlerFunc(create)))
	mux.Handle("GET /v1/containers", RequirePermission("containers-manage")(http.HandlerFunc(create)))
	api := v.Handler(mux)

	token := func(project string) string {
		c := is.claims(clock.Now())
		c["scope"] = "containers-manage"
		if project == "" {
			c["sub"], c["client_id"] = "user:usr_1", "keyward"
			delete(c, "project")
		} else {
			c["project"] = project
		}
		return is.mint(c, nil)
	}
	tests := []struct {
		name, method, path, project string
		status                      int
		says                        string
	}{
		{"own project", "POST", "/v1/projects/prj_a/containers", "prj_a", 201, ""},
		{"another project", "POST", "/v1/projects/prj_b/containers", "prj_a", 403, "another project"},
		{"a project's name, not its id", "POST", "/v1/projects/a/containers", "prj_a", 403, "another project"},
		{"token without a project", "POST", "/v1/projects/prj_a/containers", "", 403, "not bound to a project"},
		{"other wildcard, own project", "GET", "/v1/tenants/prj_a/containers", "prj_a", 201, ""},
		{"other wildcard, another project", "GET", "/v1/tenants/prj_b/containers", "prj_a", 403, "another project"},
		{"other wildcard, no project", "GET", "/v1/tenants/prj_a/containers", "", 403, "not bound to a project"},
		{"route without a project", "GET", "/v1/containers", "", 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.RemoteAddr = "127.0.0.1:1"
			r.Header.Set("Authorization", "Bearer "+token(tt.project))
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d (%s); want %d", w.Code, w.Body, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); tt.status == 403 &&
				(!strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, tt.says)) {
				t.Errorf("WWW-Authenticate %q; want insufficient_scope saying %q", got, tt.says)
			}
		})
	}
}

func TestClientAddress(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c := is.claims(clock.Now())
	c["ips"] = []string{"127.0.0.1", "192.0.2.0/24", "2001:db8::/32"}
	restricted := is.mint(c, nil)
	anywhere := is.mint(is.claims(clock.Now()), nil)
	tests := []struct {
		name, token, remote, xff string
		status                   int
	}{
		{"allowed address", restricted, "127.0.0.1:1", "", 204},
		{"another loopback address", restricted, "127.0.0.2:1", "", 401},
		{"allowed network", restricted, "192.0.2.77:1", "", 204},
		{"IPv4-mapped IPv6", restricted, "[::ffff:127.0.0.1]:1", "", 204},
		{"IPv6 network", restricted, "[2001:db8::5]:1", "", 204},
		{"untrusted peer's X-Forwarded-For is ignored", restricted, "203.0.113.9:1", "127.0.0.1", 401},
		{"trusted proxy forwards an allowed client", restricted, "10.1.2.3:1", "203.0.113.9, 192.0.2.8", 204},
		{"trusted proxy forwards another client", restricted, "10.1.2.3:1", "192.0.2.8, 203.0.113.9", 401},
		{"unrestricted token from anywhere", anywhere, "203.0.113.9:1", "", 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bearerRequest(tt.token)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			w, _ := serve(v, r)
			if w.Code != tt.status {
				t.Fatalf("status %d (%s); want %d", w.Code, w.Body, tt.status)
			}
			if tt.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), "may not be used from your address") {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestCallerIsTheRequestsOwn: requests with the same token share one cached verification, so a
// handler that changes its Caller must not change what the next request's handler sees, nor let
// that request in from an address the key does not allow.
func TestCallerIsTheRequestsOwn(t *testing.T) {
	is, clock := newTestIssuer(t), newTestClock()
	v := newVerifier(t, is, clock)
	c := is.claims(clock.Now())
	c["ips"] = []string{"127.0.0.1"}
	tok := is.mint(c, nil)

	tamper := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := FromContext(r.Context())
		caller.Permissions[0] = "billing-manage"
		caller.Networks[0] = netip.MustParsePrefix("0.0.0.0/0")
		w.WriteHeader(http.StatusNoContent)
	}))
	w := httptest.NewRecorder()
	tamper.ServeHTTP(w, bearerRequest(tok))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d (%s)", w.Code, w.Body)
	}

	w, got := serve(v, bearerRequest(tok))
	if w.Code != http.StatusNoContent || got == nil {
		t.Fatalf("status %d (%s)", w.Code, w.Body)
	}
	if got.Has("billing-manage") || !got.Has("containers-view") {
		t.Errorf("the next request sees permissions %v", got.Permissions)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}; !slices.Equal(got.Networks, want) {
		t.Errorf("the next request sees networks %v, want %v", got.Networks, want)
	}
	elsewhere := bearerRequest(tok)
	elsewhere.RemoteAddr = "203.0.113.9:1"
	if w, _ := serve(v, elsewhere); w.Code != http.StatusUnauthorized {
		t.Errorf("a request from an address the key does not allow got %d", w.Code)
	}
}

// flipUnusedBit sets an unused trailing bit of the last base64url character of tok: the decoded
// signature is the same, so only a strict parser notices. ES256 signatures (86 characters) always
// have unused bits.
func flipUnusedBit(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return tok[:len(tok)-1] + string(alphabet[strings.IndexByte(alphabet, tok[len(tok)-1])|1])
}
