package oidctest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/keyward/keyward/internal/kwtest"
)

// fetchJSON GETs url and decodes the JSON answer, as a verifier discovering an issuer would.
func fetchJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// discover reads an issuer's metadata at wellKnown and its JWKS, as a verifier would.
func discover(t *testing.T, issuerURL, wellKnown string) (claimedIssuer string, keys jose.JSONWebKeySet) {
	t.Helper()
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	fetchJSON(t, issuerURL+wellKnown, &meta)
	if meta.JWKSURI == "" {
		t.Fatalf("%s%s has no jwks_uri", issuerURL, wellKnown)
	}
	fetchJSON(t, meta.JWKSURI, &keys)
	return meta.Issuer, keys
}

// verify checks token's signature against keys (by kid) and returns its claims, or the error.
func verify(token string, keys jose.JSONWebKeySet) (map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	err = tok.Claims(keys, &claims)
	return claims, err
}

func mustVerify(t *testing.T, token string, keys jose.JSONWebKeySet) map[string]any {
	t.Helper()
	claims, err := verify(token, keys)
	if err != nil {
		t.Fatalf("the token does not verify against the issuer's JWKS: %v", err)
	}
	return claims
}

func TestProviderIssuesTokensItSigned(t *testing.T) {
	p := Start(t)
	iss, keys := discover(t, p.Issuer, "/.well-known/openid-configuration")
	if iss != p.Issuer {
		t.Fatalf("discovery names issuer %q, want %q", iss, p.Issuer)
	}
	start := time.Now()
	token := p.Token(t, "https://keyward.test", map[string]any{
		"sub": "repo:octo/app:ref:refs/heads/main", "repository_owner_id": "1001", "repository_id": "42",
	})
	t.Logf("a token from the provider took %v", time.Since(start))

	header, _ := kwtest.DecodeJWT(t, token)
	if header["alg"] != "RS256" || header["kid"] != p.RSAKey.KID {
		t.Errorf("header = %v, want RS256 by %s", header, p.RSAKey.KID)
	}
	claims := mustVerify(t, token, keys)
	for name, want := range map[string]any{
		"iss": p.Issuer, "aud": "https://keyward.test", "sub": "repo:octo/app:ref:refs/heads/main",
		"repository_owner_id": "1001", "repository_id": "42",
	} {
		if claims[name] != want {
			t.Errorf("claim %s = %#v, want %#v", name, claims[name], want)
		}
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 600 {
		t.Errorf("lifetime = %v s, want the default 600", exp-iat)
	}
	if now := float64(time.Now().Unix()); claims["iat"].(float64) > now+1 || claims["iat"].(float64) < now-60 {
		t.Errorf("iat %v is not now (%v)", claims["iat"], now)
	}
	if claims["jti"] == "" || claims["jti"] == nil {
		t.Error("the token has no jti")
	}

	again := mustVerify(t, p.Token(t, "https://keyward.test", nil), keys)
	if again["jti"] == claims["jti"] {
		t.Error("two tokens share a jti")
	}
	if again["sub"] != p.ClientID {
		t.Errorf("sub without a claim = %v, want the client id", again["sub"])
	}

	if header["typ"] != "at+jwt" {
		t.Errorf("typ = %v, want the provider's at+jwt", header["typ"])
	}
	es := p.Issue(t, TokenRequest{Audience: "keyward", TTL: 5 * time.Second, Alg: "ES256", Typ: "JWT"})
	header, _ = kwtest.DecodeJWT(t, es)
	if header["alg"] != "ES256" || header["kid"] != p.ECKey.KID || header["typ"] != "JWT" {
		t.Errorf("ES256 header = %v", header)
	}
	c := mustVerify(t, es, keys)
	if c["aud"] != "keyward" || c["exp"].(float64)-c["iat"].(float64) != 5 {
		t.Errorf("ES256 token claims = %v, want aud keyward and a 5 s lifetime", c)
	}

	if _, err := p.issue(TokenRequest{Audience: "x", Claims: map[string]any{"exp": 1}}); err == nil {
		t.Error("the provider's own claim exp could be set by the test")
	}

	// Resign keeps the provider's key: the token verifies, and only the edit changed.
	forged := p.Resign(t, token, func(_, c map[string]any) { c["repository_id"] = "43" })
	fc := mustVerify(t, forged, keys)
	if fc["repository_id"] != "43" || fc["jti"] != claims["jti"] || fc["exp"] != claims["exp"] {
		t.Errorf("re-signed claims = %v, want the original with repository_id 43", fc)
	}
}

func TestHostileTokens(t *testing.T) {
	is := StartIssuer(t, WithKey(NewKey(t, "RS256", "genuine")))
	_, keys := discover(t, is.URL, "/.well-known/openid-configuration")
	now := time.Unix(1_800_000_000, 0)
	genuine := is.Mint(t, "keyward", now, map[string]any{"repository_id": "42", "repository_owner_id": "1001"})
	orig := mustVerify(t, genuine, keys)
	if orig["iss"] != is.URL || orig["aud"] != "keyward" || orig["repository_id"] != "42" {
		t.Fatalf("minted claims = %v", orig)
	}

	t.Run("expired", func(t *testing.T) {
		c := mustVerify(t, Expired(t, genuine, is.Key(), now), keys)
		if int64(c["exp"].(float64)) >= now.Unix() {
			t.Errorf("exp %v is not before now %d", c["exp"], now.Unix())
		}
		if c["jti"] != orig["jti"] || c["repository_id"] != "42" {
			t.Errorf("other claims changed: %v", c)
		}
	})
	t.Run("not yet valid", func(t *testing.T) {
		c := mustVerify(t, NotYetValid(t, genuine, is.Key(), now), keys)
		if int64(c["nbf"].(float64)) <= now.Unix() || int64(c["exp"].(float64)) <= int64(c["nbf"].(float64)) {
			t.Errorf("nbf %v exp %v: want nbf after now %d and before exp", c["nbf"], c["exp"], now.Unix())
		}
	})
	t.Run("issued in the future", func(t *testing.T) {
		c := mustVerify(t, IssuedInFuture(t, genuine, is.Key(), now), keys)
		if int64(c["iat"].(float64)) <= now.Unix() {
			t.Errorf("iat %v is not after now", c["iat"])
		}
	})
	t.Run("claims changed under a valid signature", func(t *testing.T) {
		c := mustVerify(t, WithClaims(t, genuine, is.Key(), map[string]any{"aud": "other", "repository_id": nil}), keys)
		if _, ok := c["repository_id"]; ok || c["aud"] != "other" {
			t.Errorf("claims = %v, want aud other and no repository_id", c)
		}
	})
	t.Run("alg none", func(t *testing.T) {
		tok := AlgNone(t, genuine)
		header, claims := kwtest.DecodeJWT(t, strings.TrimSuffix(tok, ".")+".x")
		if header["alg"] != "none" || !strings.HasSuffix(tok, ".") || claims["jti"] != orig["jti"] {
			t.Errorf("alg none token: header %v, ends %q", header, tok[len(tok)-3:])
		}
		if _, err := verify(tok, keys); err == nil {
			t.Error("an unsigned token verified")
		}
	})
	t.Run("HS256 keyed with the public key", func(t *testing.T) {
		forms := PublicKeyForms(t, is.Key().Public())
		if !strings.HasPrefix(string(forms["PKIX PEM"]), "-----BEGIN PUBLIC KEY-----") ||
			!strings.HasPrefix(string(forms["PKCS1 PEM"]), "-----BEGIN RSA PUBLIC KEY-----") || len(forms) != 5 {
			t.Fatalf("forms: %d, PKIX PEM %q", len(forms), forms["PKIX PEM"])
		}
		for name, tok := range KeyConfusion(t, genuine, is.Key().Public()) {
			header, claims := kwtest.DecodeJWT(t, tok)
			if header["alg"] != "HS256" || header["kid"] != "genuine" || claims["jti"] != orig["jti"] {
				t.Errorf("%s: header %v", name, header)
			}
			i := strings.LastIndex(tok, ".")
			mac := hmac.New(sha256.New, forms[name])
			mac.Write([]byte(tok[:i]))
			if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != tok[i+1:] {
				t.Errorf("%s: the HMAC is not keyed with that form of the public key", name)
			}
			if _, err := verify(tok, keys); err == nil {
				t.Errorf("%s: an HS256 token verified against the JWKS", name)
			}
		}
	})
	t.Run("kid of another issuer", func(t *testing.T) {
		other := StartIssuer(t)
		tok := SignedByOther(t, genuine, other.Key())
		header, claims := kwtest.DecodeJWT(t, tok)
		if header["kid"] != other.Key().KID || header["alg"] != "ES256" || claims["iss"] != is.URL {
			t.Errorf("header %v iss %v", header, claims["iss"])
		}
		if _, err := verify(tok, keys); err == nil {
			t.Error("a token signed by another issuer verified against this issuer's JWKS")
		}
		_, otherKeys := discover(t, other.URL, "/.well-known/oauth-authorization-server")
		mustVerify(t, tok, otherKeys)
	})
	t.Run("tampered", func(t *testing.T) {
		tok := Tamper(t, genuine, "repository_id", "43")
		if _, c := kwtest.DecodeJWT(t, tok); c["repository_id"] != "43" {
			t.Errorf("claims %v", c)
		}
		if _, err := verify(tok, keys); err == nil {
			t.Error("a tampered token verified")
		}
	})
}

func TestRogueIssuer(t *testing.T) {
	trusted := StartIssuer(t)
	rogue := StartIssuer(t, Claiming(trusted.URL))
	for _, wk := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		iss, keys := discover(t, rogue.URL, wk)
		if iss != trusted.URL || iss == rogue.URL {
			t.Errorf("%s names %q, want the other issuer %q", wk, iss, trusted.URL)
		}
		// Its tokens verify against its own JWKS, whichever iss they carry: only the comparison
		// of the document's issuer with the URL it was fetched from stops them.
		mustVerify(t, rogue.Mint(t, "keyward", time.Now(), nil), keys)
		mustVerify(t, rogue.Mint(t, "keyward", time.Now(), map[string]any{"iss": trusted.URL}), keys)
	}
}

func TestIssuerRotatesAndGoesDown(t *testing.T) {
	is := StartIssuer(t)
	_, keys := discover(t, is.URL, "/.well-known/openid-configuration")
	old := is.Mint(t, "a", time.Now(), nil)
	if is.JWKSFetches() != 1 || is.DiscoveryFetches() != 1 {
		t.Errorf("fetches: jwks %d discovery %d, want 1 and 1", is.JWKSFetches(), is.DiscoveryFetches())
	}
	is.Rotate(t, false)
	fresh := is.Mint(t, "a", time.Now(), nil)
	if _, err := verify(fresh, keys); err == nil {
		t.Error("a token of the new key verified against the JWKS fetched before the rotation")
	}
	_, keys = discover(t, is.URL, "/.well-known/openid-configuration")
	mustVerify(t, fresh, keys)
	mustVerify(t, old, keys)
	is.Rotate(t, true)
	_, keys = discover(t, is.URL, "/.well-known/openid-configuration")
	if _, err := verify(old, keys); err == nil {
		t.Error("a token of a dropped key still verified")
	}

	is.SetDown(true)
	resp, err := http.Get(is.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("JWKS of an issuer that is down: HTTP %d, want 503", resp.StatusCode)
	}
}

func TestSecondKeywardIsAnIssuer(t *testing.T) {
	relying := kwtest.Start(t)
	upstream := StartKeyward(t, relying.Config.Issuer)
	if upstream.Issuer == relying.Config.Issuer {
		t.Fatalf("both instances have issuer %s", upstream.Issuer)
	}
	iss, keys := discover(t, upstream.Issuer, "/.well-known/oauth-authorization-server")
	if iss != upstream.Issuer {
		t.Fatalf("metadata names %q, want %q", iss, upstream.Issuer)
	}
	token := upstream.Token(t)
	claims := mustVerify(t, token, keys)
	if claims["iss"] != upstream.Issuer || claims["aud"] != relying.Config.Issuer ||
		claims["sub"] != "key:"+kwtest.KeyID(t, upstream.Key) || claims["jti"] == nil {
		t.Errorf("claims = %v", claims)
	}
	if tok2 := upstream.Token(t); mustVerify(t, tok2, keys)["jti"] == claims["jti"] {
		t.Error("two tokens share a jti")
	}
	// The relying instance's own keys do not verify the upstream's tokens.
	_, relyingKeys := discover(t, relying.Config.Issuer, "/.well-known/oauth-authorization-server")
	if _, err := verify(token, relyingKeys); err == nil {
		t.Error("the upstream's token verified against the relying instance's keys")
	}
}
