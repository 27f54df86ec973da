package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestHostileInput: whatever an attacker sends, the answer is a 4xx and never a token.
func TestHostileInput(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "target", Permissions: []string{"images-view", "api-keys-view"}})

	t.Run("token endpoint", func(t *testing.T) {
		t.Parallel()
		type req struct {
			name, ctype, body string
		}
		const form = "application/x-www-form-urlencoded"
		cases := []req{
			{"JSON body as JSON", "application/json", `{"grant_type":"client_credentials","client_secret":"` + k.Secret + `"}`},
			{"JSON body as a form", form, `{"grant_type":"client_credentials","client_secret":"` + k.Secret + `"}`},
			{"JSON array", "application/json", `[1,2,3]`},
			{"XML", "application/xml", `<grant_type>client_credentials</grant_type>`},
			{"oversized body", form, "grant_type=client_credentials&client_secret=" + k.Secret + "&scope=" + strings.Repeat("images-view+", 8_000)},
			{"oversized parameter name", form, strings.Repeat("a", 20_000) + "=1&grant_type=client_credentials&client_secret=" + k.Secret},
			{"many parameters", form, "grant_type=client_credentials&client_secret=" + k.Secret + strings.Repeat("&x=1", 3000)},
			{"binary body", form, "\x00\x01\x02\xff\xfe"},
			{"unbalanced percent", form, "grant_type=%"},
			{"scope with a thousand unknown entries", form, "grant_type=client_credentials&client_secret=" + k.Secret + "&scope=" + strings.Repeat("root+", 1000)},
		}
		for _, p := range []string{"grant_type", "client_secret", "client_id", "username", "password", "refresh_token", "scope", "project"} {
			for what, bad := range map[string]string{"NUL byte": "%00", "invalid UTF-8": "%FF", "newline": "%0A", "escape": "%1B", "overlong slash": "%C0%AF"} {
				f := url.Values{"grant_type": {"client_credentials"}, "client_secret": {k.Secret}}
				body := f.Encode()
				if p == "grant_type" || p == "client_secret" {
					f.Del(p)
					body = f.Encode()
				}
				good := map[string]string{"grant_type": "client_credentials", "client_secret": k.Secret, "client_id": k.ID,
					"username": url.QueryEscape(kwtest.AdminEmail), "password": "x", "refresh_token": "x", "scope": "images-view", "project": "default"}[p]
				cases = append(cases, req{what + " in " + p, form, body + "&" + p + "=" + good + bad})
			}
		}
		for _, c := range cases {
			r := s.Do(t, http.MethodPost, "/oauth/token", strings.NewReader(c.body), kwtest.Header("Content-Type", c.ctype))
			kwtest.RequireNoServerError(t, r)
			if r.Status < 400 || r.Status >= 500 {
				t.Errorf("%s: want a 4xx, got %s", c.name, r)
			}
			if strings.Contains(c.name, " in ") {
				kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_request")
			}
		}
		// Basic credentials carrying control characters or invalid UTF-8 once decoded.
		for _, payload := range []string{k.ID + ":" + k.Secret + "%00", k.ID + ":%FF" + k.Secret, k.ID + "\x00:" + k.Secret, ":" + strings.Repeat("x", 8000)} {
			r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.RawBasic(payload))
			kwtest.RequireNoServerError(t, r)
			if r.Status != http.StatusUnauthorized && r.Status != http.StatusBadRequest {
				t.Errorf("Basic %q: want 400 or 401, got %s", payload, r)
			}
		}
	})

	t.Run("management API bodies", func(t *testing.T) {
		t.Parallel()
		path := "/v1/projects/default/api-keys"
		for name, body := range map[string]string{
			"duplicate key":      `{"name":"a","name":"b","permissions":["images-view"]}`,
			"unknown field":      `{"name":"a","permissions":["images-view"],"admin":true}`,
			"wrong type":         `{"name":1,"permissions":["images-view"]}`,
			"trailing data":      `{"name":"a","permissions":["images-view"]}{}`,
			"not an object":      `["images-view"]`,
			"invalid UTF-8":      "{\"name\":\"a\xff\",\"permissions\":[\"images-view\"]}",
			"NUL in the name":    `{"name":"a\u0000b","permissions":["images-view"]}`,
			"deep nesting":       `{"name":"a","permissions":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
			"unknown permission": `{"name":"a","permissions":["root"]}`,
			"bad CIDR":           `{"name":"a","ips":["300.1.1.1/8"],"permissions":["images-view"]}`,
			"over-long name":     `{"name":"` + strings.Repeat("n", 101) + `","permissions":["images-view"]}`,
			"empty name":         `{"name":"","permissions":["images-view"]}`,
			"truncated":          `{"name":"a","permissions":["images-view"`,
		} {
			r := s.API(t, http.MethodPost, path, admin, body)
			kwtest.RequireNoServerError(t, r)
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: want 400, got %s", name, r)
				continue
			}
			kwtest.RequireProblem(t, r, http.StatusBadRequest)
		}
		big := `{"name":"big","permissions":["images-view"],"ips":["` + strings.Repeat("1.2.3.4\",\"", 10_000) + `1.2.3.4"]}`
		r := s.API(t, http.MethodPost, path, admin, big)
		kwtest.RequireNoServerError(t, r)
		if r.Status != http.StatusRequestEntityTooLarge && r.Status != http.StatusBadRequest {
			t.Errorf("oversized body: want 413, got %s", r)
		}
		r = s.Do(t, http.MethodPost, path, strings.NewReader(`name=a`), kwtest.Bearer(admin), kwtest.Header("Content-Type", "application/x-www-form-urlencoded"))
		kwtest.RequireProblem(t, r, http.StatusUnsupportedMediaType)
		// Nothing above created a key.
		var keys struct {
			Data []kwtest.Key `json:"data"`
		}
		s.API(t, http.MethodGet, path, admin, nil).JSON(t, &keys)
		for _, key := range keys.Data {
			if key.Name != "target" && !strings.HasPrefix(key.Name, "cross-") {
				t.Errorf("a hostile body created key %q", key.Name)
			}
		}
	})

	t.Run("forged access tokens", func(t *testing.T) {
		t.Parallel()
		testForgedTokens(t, s, admin, k)
	})

	t.Run("another tenant's projects and keys are 404", func(t *testing.T) {
		t.Parallel()
		testTenantIsolation(t, s, admin)
	})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64url(data)
}

// es256 signs input as a JWS ES256 signature: r and s, 32 bytes each.
func es256(t *testing.T, key *ecdsa.PrivateKey, input string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return b64url(sig)
}

func hs256(secret []byte, input string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return b64url(m.Sum(nil))
}

func publicJWK(pub *ecdsa.PublicKey, kid string) map[string]any {
	// Bytes is the uncompressed point: 0x04, then x and y of 32 bytes each.
	raw, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "crv": "P-256", "x": b64url(raw[1:33]), "y": b64url(raw[33:]), "kid": kid, "alg": "ES256", "use": "sig"}
}

func testForgedTokens(t *testing.T, s *kwtest.Server, admin string, k *kwtest.Key) {
	genuine := strings.Split(admin, ".")
	header, claims := kwtest.DecodeJWT(t, admin)
	kid, _ := header["kid"].(string)
	keyTok := s.Exchange(t, k.Secret)

	// The server's public key, in every form an algorithm-confusion attack might use as an HMAC key.
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	jwksResp := s.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
	jwksResp.JSON(t, &set)
	jwksResp.JSON(t, &raw)
	rawJWK := raw.Keys[0]
	x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0]["x"])
	y, _ := base64.RawURLEncoding.DecodeString(set.Keys[0]["y"])
	serverPub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("server public key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(serverPub)
	if err != nil {
		t.Fatalf("server public key: %v", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	uncompressed := append([]byte{4}, append(x, y...)...)

	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	attackerJWKS, _ := json.Marshal(map[string]any{"keys": []any{publicJWK(&attacker.PublicKey, "attacker"), publicJWK(&attacker.PublicKey, kid)}})
	var fetched atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(attackerJWKS)
	}))
	defer evil.Close()
	defer func() {
		if n := fetched.Load(); n > 0 {
			t.Errorf("the server fetched the attacker's jku/x5u URL %d times", n)
		}
	}()

	escalated := map[string]any{}
	for name, v := range claims {
		escalated[name] = v
	}
	escalated["scope"] = "billing-manage"
	escalated["project"] = "prj_0000000000000000"

	with := func(changes map[string]any) map[string]any {
		h := map[string]any{}
		for name, v := range header {
			h[name] = v
		}
		for name, v := range changes {
			if v == nil {
				delete(h, name)
			} else {
				h[name] = v
			}
		}
		return h
	}
	signed := func(h map[string]any, c map[string]any, sign func(string) string) string {
		input := b64json(t, h) + "." + b64json(t, c)
		return input + "." + sign(input)
	}
	none := func(string) string { return "" }
	byAttacker := func(in string) string { return es256(t, attacker, in) }
	hmacWith := func(secret []byte) func(string) string { return func(in string) string { return hs256(secret, in) } }

	forged := map[string]string{
		"alg none":                          signed(with(map[string]any{"alg": "none"}), claims, none),
		"alg None":                          signed(with(map[string]any{"alg": "None"}), claims, none),
		"alg NONE with the real signature":  b64json(t, with(map[string]any{"alg": "NONE"})) + "." + genuine[1] + "." + genuine[2],
		"alg none without kid":              signed(with(map[string]any{"alg": "none", "kid": nil}), claims, none),
		"HS256 keyed with the JWK JSON":     signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith(rawJWK)),
		"HS256 keyed with the PEM key":      signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith(pemKey)),
		"HS256 keyed with the DER key":      signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith(der)),
		"HS256 keyed with the raw point":    signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith(uncompressed)),
		"HS256 keyed with the x coordinate": signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith([]byte(set.Keys[0]["x"]))),
		"HS256 keyed with the kid":          signed(with(map[string]any{"alg": "HS256"}), claims, hmacWith([]byte(kid))),
		"stripped signature":                genuine[0] + "." + genuine[1] + ".",
		"no signature part":                 genuine[0] + "." + genuine[1],
		"tampered payload":                  genuine[0] + "." + b64json(t, escalated) + "." + genuine[2],
		"signature of another token":        genuine[0] + "." + genuine[1] + "." + strings.Split(keyTok.AccessToken, ".")[2],
		"payload of another token":          genuine[0] + "." + strings.Split(keyTok.AccessToken, ".")[1] + "." + genuine[2],
		"truncated signature":               genuine[0] + "." + genuine[1] + "." + genuine[2][:len(genuine[2])-4],
		"signature with padding":            admin + "==",
		"kid path traversal":                signed(with(map[string]any{"kid": "../../etc/passwd"}), claims, byAttacker),
		"kid SQL injection":                 signed(with(map[string]any{"kid": "' OR 1=1 --"}), claims, byAttacker),
		"kid SQL injection, HS256 empty":    signed(with(map[string]any{"kid": "' UNION SELECT '' --", "alg": "HS256"}), claims, hmacWith(nil)),
		"kid /dev/null, HS256 empty":        signed(with(map[string]any{"kid": "/dev/null", "alg": "HS256"}), claims, hmacWith(nil)),
		"real kid, attacker's signature":    signed(header, claims, byAttacker),
		"jku to the attacker's JWKS":        signed(with(map[string]any{"jku": evil.URL, "kid": "attacker"}), claims, byAttacker),
		"jku with the real kid":             signed(with(map[string]any{"jku": evil.URL}), claims, byAttacker),
		"embedded jwk":                      signed(with(map[string]any{"jwk": publicJWK(&attacker.PublicKey, "attacker"), "kid": "attacker"}), claims, byAttacker),
		"embedded jwk with the real kid":    signed(with(map[string]any{"jwk": publicJWK(&attacker.PublicKey, kid)}), claims, byAttacker),
		"x5u to the attacker":               signed(with(map[string]any{"x5u": evil.URL, "kid": "attacker"}), claims, byAttacker),
		"JWE-shaped":                        genuine[0] + "." + genuine[1] + "." + genuine[2] + ".x.y",
		"dots":                              "..",
		"API key as bearer":                 k.Secret,
	}
	for name, tok := range forged {
		r := s.API(t, http.MethodGet, "/v1/me", tok, nil)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s: /v1/me answered %s", name, r)
		} else {
			kwtest.RequireProblem(t, r, http.StatusUnauthorized)
		}
		kwtest.RequireInactive(t, s.Introspect(t, tok, kwtest.Bearer(admin)))
		if r := s.Introspect(t, keyTok.AccessToken, kwtest.Bearer(tok)); r.Status != http.StatusUnauthorized {
			t.Errorf("%s as introspection caller: want 401, got %s", name, r)
		}
		if r := s.Revoke(t, tok); r.Status >= 500 {
			t.Errorf("%s: revoke answered %s", name, r)
		}
	}
	// The forged tokens revoked nothing: the session whose claims they copied is alive.
	if r := s.API(t, http.MethodGet, "/v1/me", admin, nil); r.Status != http.StatusOK {
		t.Errorf("the admin's genuine token stopped working: %s", r)
	}
	// The raw key gets advice to exchange it first.
	p := kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", k.Secret, nil), http.StatusUnauthorized)
	if !strings.Contains(strings.ToLower(p.Detail), "exchange") {
		t.Errorf("a raw API key as bearer: the problem does not say to exchange it: %q", p.Detail)
	}
}

func testTenantIsolation(t *testing.T, s *kwtest.Server, admin string) {
	const bobEmail, bobPassword = "bob@keyward.test", "bob-has-a-long-password-7"
	s.CreateUser(t, admin, bobEmail, bobPassword)
	bob := s.Login(t, bobEmail, bobPassword, "").AccessToken
	bobs := s.CreateProject(t, bob, "bobs")
	def := project(t, s, admin, "default")
	adminKey := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "cross-admin", Permissions: []string{"api-keys-view", "api-keys-manage", "audit-view"}})
	bobKey := s.CreateKey(t, bob, "bobs", kwtest.KeyRequest{Name: "cross-bob", Permissions: []string{"api-keys-view", "api-keys-manage", "audit-view"}})
	adminKeyTok := s.Exchange(t, adminKey.Secret).AccessToken
	bobNarrowed := s.Login(t, bobEmail, bobPassword, "bobs").AccessToken

	type probe struct{ method, path string }
	intoDefault := []probe{
		{http.MethodGet, "/v1/projects/default"},
		{http.MethodGet, "/v1/projects/" + def.ID},
		{http.MethodGet, "/v1/projects/default/api-keys"},
		{http.MethodGet, "/v1/projects/" + def.ID + "/api-keys"},
		{http.MethodGet, "/v1/projects/default/api-keys/" + adminKey.ID},
		{http.MethodDelete, "/v1/projects/default/api-keys/" + adminKey.ID},
		{http.MethodGet, "/v1/projects/default/members"},
		{http.MethodGet, "/v1/projects/default/audit"},
		{http.MethodGet, "/v1/projects/bobs/api-keys/" + adminKey.ID},    // the right key id under one's own project
		{http.MethodDelete, "/v1/projects/bobs/api-keys/" + adminKey.ID}, // must not delete another tenant's key
		{http.MethodGet, "/v1/projects/no-such-project"},
		{http.MethodGet, "/v1/projects/prj_0000000000000000/api-keys"},
	}
	for who, tok := range map[string]string{"bob": bob, "bob narrowed to bobs": bobNarrowed, "bob's key": s.Exchange(t, bobKey.Secret).AccessToken} {
		for _, p := range intoDefault {
			r := s.API(t, p.method, p.path, tok, nil)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: %s %s: want 404, got %s", who, p.method, p.path, r)
				continue
			}
			kwtest.RequireProblem(t, r, http.StatusNotFound)
		}
	}
	for _, p := range []probe{
		{http.MethodGet, "/v1/projects/bobs"},
		{http.MethodGet, "/v1/projects/" + bobs.ID + "/api-keys"},
		{http.MethodDelete, "/v1/projects/bobs/api-keys/" + bobKey.ID},
		{http.MethodDelete, "/v1/projects/default/api-keys/" + bobKey.ID},
	} {
		r := s.API(t, p.method, p.path, adminKeyTok, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("admin's key: %s %s: want 404, got %s", p.method, p.path, r)
		}
	}
	// Both keys survived every attempt.
	s.Exchange(t, adminKey.Secret)
	s.Exchange(t, bobKey.Secret)
	// A user narrowed to one project does not see the others in the list.
	var list struct {
		Data []kwtest.Project `json:"data"`
	}
	r := s.API(t, http.MethodGet, "/v1/projects", bob, nil)
	r.JSON(t, &list)
	if len(list.Data) != 1 || list.Data[0].Name != "bobs" {
		t.Errorf("bob's project list: %s", r)
	}
}

// TestErrorDescriptionsNeverReflectInput: RFC 6749 §5.2 allows only printable ASCII without '"'
// and '\' in error_description, and an answer that echoes a caller's parameter names or values
// can carry markup or forged text to whoever displays it. Every error of the three form
// endpoints stays in that set and contains none of what was sent.
func TestErrorDescriptionsNeverReflectInput(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "target", Permissions: []string{"images-view"}})
	hostile := []string{`evil"name`, `back\slash`, "ünïcödé-ñame", "<img src=x onerror=alert(1)>", "zq_injected_zq", "☃", `"}{"x":"`}

	var bodies []string
	for _, h := range hostile {
		e := url.QueryEscape(h)
		bodies = append(bodies,
			e+"=1&"+e+"=2", // a repeated unknown name
			"grant_type=client_credentials&"+e+"=1&"+e+"=1", // after a valid one
			"grant_type="+e,
			"grant_type=client_credentials&client_secret="+e,
			"grant_type=client_credentials&client_id="+e+"&client_secret="+url.QueryEscape(k.Secret),
			"grant_type=client_credentials&client_secret="+url.QueryEscape(k.Secret)+"&scope="+e,
			"grant_type=password&username="+e+"&password="+e,
			"grant_type=password&username="+url.QueryEscape(kwtest.AdminEmail)+"&password="+url.QueryEscape(kwtest.AdminPassword)+"&project="+e,
			"grant_type=refresh_token&refresh_token="+e,
			"token="+e,
			"token="+e+"&token="+e,
			"token=x&token_type_hint="+e,
		)
	}
	basic := func(h string) kwtest.RequestOption { return kwtest.Basic(h, h) }
	seen := 0
	for _, path := range []string{"/oauth/token", "/oauth/revoke", "/oauth/introspect"} {
		for _, body := range bodies {
			for _, opts := range [][]kwtest.RequestOption{nil, {basic(hostile[0])}, {kwtest.Bearer(url.QueryEscape(hostile[4]))}} {
				r := s.PostForm(t, path, body, opts...)
				kwtest.RequireNoServerError(t, r)
				if r.Status < 400 {
					continue
				}
				var e kwtest.OAuthError
				r.JSON(t, &e)
				seen++
				for _, c := range e.Description {
					if c != 0x20 && c != 0x21 && (c < 0x23 || c > 0x5B) && (c < 0x5D || c > 0x7E) {
						t.Errorf("POST %s %q: error_description has %q, outside RFC 6749 §5.2's set: %q", path, body, c, e.Description)
						break
					}
				}
				for _, h := range hostile {
					if strings.Contains(e.Description, h) {
						t.Errorf("POST %s %q: error_description echoes %q: %q", path, body, h, e.Description)
					}
				}
			}
		}
	}
	if seen < len(bodies) {
		t.Fatalf("only %d error answers; the check would pass vacuously", seen)
	}
}
