package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/keyward/keyward/dpop"
)

var now = time.Unix(1_800_000_000, 0)

const tokenURL = "https://auth.example.com/oauth/token"

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustProof(t testing.TB, key *ecdsa.PrivateKey, method, url string, opts ...dpop.ProofOption) string {
	p, err := dpop.NewProof(key, method, url, append([]dpop.ProofOption{dpop.WithTime(now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// forge signs arbitrary header and claims with key as alg, for proofs NewProof would never build.
func forge(t testing.TB, key any, alg jose.SignatureAlgorithm, header map[string]any, claims map[string]any) string {
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{}}
	for k, v := range header {
		opts.ExtraHeaders[jose.HeaderKey(k)] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyAcceptsItsOwnProofs(t *testing.T) {
	ec := mustKey(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.Signer{"ES256": ec, "EdDSA": ed, "RS256": rsaKey} {
		t.Run(name, func(t *testing.T) {
			raw, err := dpop.NewProof(key, "GET", "https://api.example.com/v1/things?page=2#x", dpop.WithTime(now), dpop.WithAccessToken("tok"), dpop.WithNonce("n1"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := dpop.Verify(raw, dpop.Options{Method: "GET", URL: "HTTPS://API.example.com:443/v1/things?other", AccessToken: "tok", Nonce: "n1", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != dpop.Thumbprint(key.Public()) || p.JKT == "" {
				t.Errorf("jkt %q, want the key's thumbprint %q", p.JKT, dpop.Thumbprint(key.Public()))
			}
			if p.HTU != "https://api.example.com/v1/things" || p.HTM != "GET" || !p.IAT.Equal(now) || p.Nonce != "n1" || p.JTI == "" {
				t.Errorf("proof %+v", p)
			}
		})
	}
}

// TestRFC9449Example verifies the proof of RFC 9449 §4.1 and the thumbprint §6.1 gives its key.
func TestRFC9449Example(t *testing.T) {
	const raw = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	p, err := dpop.Verify(raw, dpop.Options{Method: "POST", URL: "https://server.example.com/token", Now: time.Unix(1562262616, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"; p.JKT != want {
		t.Errorf("jkt %s, want %s", p.JKT, want)
	}
	if _, err := dpop.Verify(raw, dpop.Options{Method: "POST", URL: "https://server.example.com/token", Now: time.Unix(1562262616, 0).Add(2 * time.Minute)}); !errors.Is(err, dpop.ErrStale) {
		t.Errorf("two minutes later: %v, want ErrStale", err)
	}
}

// TestVerifyRefusals proves each reason for refusal with a proof that differs from a good one in
// that one respect.
func TestVerifyRefusals(t *testing.T) {
	key, other := mustKey(t), mustKey(t)
	pubJWK := jose.JSONWebKey{Key: key.Public()}
	privJWK := jose.JSONWebKey{Key: key}
	good := map[string]any{"jti": "j1", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for a, b := range good {
			c[a] = b
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := map[string]any{"typ": dpop.Type, "jwk": pubJWK}
	hs := func() string {
		h := b64(map[string]any{"typ": dpop.Type, "alg": "HS256", "jwk": pubJWK})
		in := h + "." + b64(good)
		m := hmac.New(sha256.New, []byte("secret"))
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	none := b64(map[string]any{"typ": dpop.Type, "alg": "none", "jwk": pubJWK}) + "." + b64(good) + "."
	okProof := forge(t, key, jose.ES256, hdr, good)
	parts := strings.Split(okProof, ".")
	otherSig := strings.Split(forge(t, other, jose.ES256, hdr, good), ".")[2]
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = edPub

	cases := []struct {
		name string
		raw  string
		opts func(*dpop.Options)
		want error
	}{
		{"empty", "", nil, dpop.ErrMissing},
		{"not a JWS", "hello", nil, dpop.ErrMalformed},
		{"too long", strings.Repeat("a", dpop.MaxLength+1), nil, dpop.ErrMalformed},
		{"wrong typ", forge(t, key, jose.ES256, map[string]any{"typ": "JWT", "jwk": pubJWK}, good), nil, dpop.ErrMalformed},
		{"no typ", forge(t, key, jose.ES256, map[string]any{"jwk": pubJWK}, good), nil, dpop.ErrMalformed},
		{"crit", forge(t, key, jose.ES256, map[string]any{"typ": dpop.Type, "jwk": pubJWK, "crit": []string{"exp"}, "exp": 1}, good), nil, dpop.ErrMalformed},
		{"alg none", none, nil, dpop.ErrAlgorithm},
		{"HS256", hs, nil, dpop.ErrAlgorithm},
		{"alg not in the allow-list", okProof, func(o *dpop.Options) { o.Algs = []string{"EdDSA"} }, dpop.ErrAlgorithm},
		{"no jwk", forge(t, key, jose.ES256, map[string]any{"typ": dpop.Type}, good), nil, dpop.ErrKey},
		{"private jwk", forge(t, key, jose.ES256, map[string]any{"typ": dpop.Type, "jwk": privJWK}, good), nil, dpop.ErrKey},
		{"jwk of another curve than alg", forge(t, edPriv, jose.EdDSA, map[string]any{"typ": dpop.Type, "jwk": pubJWK, "alg": "ES256"}, good), nil, dpop.ErrSignature},
		{"signed by another key than jwk", parts[0] + "." + parts[1] + "." + otherSig, nil, dpop.ErrSignature},
		{"payload changed", parts[0] + "." + b64(with("htm", "GET")) + "." + parts[2], nil, dpop.ErrSignature},
		{"no jti", forge(t, key, jose.ES256, hdr, with("jti", nil)), nil, dpop.ErrMalformed},
		{"long jti", forge(t, key, jose.ES256, hdr, with("jti", strings.Repeat("j", 257))), nil, dpop.ErrMalformed},
		{"iat a string", forge(t, key, jose.ES256, hdr, with("iat", fmt.Sprint(now.Unix()))), nil, dpop.ErrMalformed},
		{"iat a fraction", forge(t, key, jose.ES256, hdr, with("iat", 1.5)), nil, dpop.ErrMalformed},
		{"wrong htm", forge(t, key, jose.ES256, hdr, with("htm", "GET")), nil, dpop.ErrMethod},
		{"htm in lower case", forge(t, key, jose.ES256, hdr, with("htm", "post")), nil, dpop.ErrMethod},
		{"wrong htu path", forge(t, key, jose.ES256, hdr, with("htu", "https://auth.example.com/oauth/revoke")), nil, dpop.ErrURL},
		{"wrong htu host", forge(t, key, jose.ES256, hdr, with("htu", "https://evil.example.com/oauth/token")), nil, dpop.ErrURL},
		{"wrong htu scheme", forge(t, key, jose.ES256, hdr, with("htu", "http://auth.example.com/oauth/token")), nil, dpop.ErrURL},
		{"wrong htu port", forge(t, key, jose.ES256, hdr, with("htu", "https://auth.example.com:8443/oauth/token")), nil, dpop.ErrURL},
		{"stale iat", forge(t, key, jose.ES256, hdr, with("iat", now.Add(-dpop.DefaultMaxAge-dpop.DefaultLeeway-time.Second).Unix())), nil, dpop.ErrStale},
		{"future iat", forge(t, key, jose.ES256, hdr, with("iat", now.Add(dpop.DefaultLeeway+time.Second).Unix())), nil, dpop.ErrStale},
		{"no nonce", okProof, func(o *dpop.Options) { o.Nonce = "server-nonce" }, dpop.ErrNonce},
		{"wrong nonce", forge(t, key, jose.ES256, hdr, with("nonce", "old")), func(o *dpop.Options) { o.Nonce = "server-nonce" }, dpop.ErrNonce},
		{"no ath", okProof, func(o *dpop.Options) { o.AccessToken = "tok" }, dpop.ErrATH},
		{"ath of another token", forge(t, key, jose.ES256, hdr, with("ath", dpop.TokenHash("other"))), func(o *dpop.Options) { o.AccessToken = "tok" }, dpop.ErrATH},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := dpop.Options{Method: "POST", URL: tokenURL, Now: now}
			if c.opts != nil {
				c.opts(&o)
			}
			p, err := dpop.Verify(c.raw, o)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %+v, %v; want %v", p, err, c.want)
			}
		})
	}
	// The same window edges accept: the good proof at the limits of iat.
	for _, at := range []time.Time{now.Add(-dpop.DefaultLeeway), now.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway)} {
		if _, err := dpop.Verify(okProof, dpop.Options{Method: "POST", URL: tokenURL, Now: at}); err != nil {
			t.Errorf("at %v: %v", at.Sub(now), err)
		}
	}
}

func TestVerifyOptionsMisuse(t *testing.T) {
	raw := mustProof(t, mustKey(t), "POST", tokenURL)
	for _, o := range []dpop.Options{
		{URL: tokenURL},
		{Method: "POST"},
		{Method: "POST", URL: "/oauth/token"},
		{Method: "POST", URL: tokenURL, Algs: []string{"HS256"}},
	} {
		if _, err := dpop.Verify(raw, o); err == nil || errors.Is(err, dpop.ErrMalformed) {
			t.Errorf("%+v: %v, want a configuration error", o, err)
		}
	}
}

func TestReplayCache(t *testing.T) {
	clock := now
	c := dpop.NewReplayCache(3, func() time.Time { return clock })
	if c.Seen("a", now.Add(time.Minute)) {
		t.Fatal("a fresh jti is seen")
	}
	if !c.Seen("a", now.Add(time.Minute)) {
		t.Fatal("a replayed jti is not seen")
	}
	c.Seen("b", now.Add(2*time.Minute))
	c.Seen("c", now.Add(3*time.Minute))
	c.Seen("d", now.Add(4*time.Minute)) // full: forgets a, the closest to expiry
	if c.Len() != 3 {
		t.Errorf("%d entries, bound is 3", c.Len())
	}
	if !c.Seen("d", now.Add(4*time.Minute)) || !c.Seen("c", now.Add(3*time.Minute)) {
		t.Error("entries far from expiry were forgotten")
	}
	clock = now.Add(150 * time.Second) // b has expired
	if c.Seen("b", now.Add(5*time.Minute)) {
		t.Error("an expired jti still counts as seen")
	}

	// Check keys by the proof's key too: another key may use the same jti.
	key, other := mustKey(t), mustKey(t)
	o := dpop.Options{Method: "POST", URL: tokenURL, Now: now}
	rc := dpop.NewReplayCache(0, func() time.Time { return now })
	p1, err := dpop.Verify(forge(t, key, jose.ES256, map[string]any{"typ": dpop.Type, "jwk": jose.JSONWebKey{Key: key.Public()}}, map[string]any{"jti": "same", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}), o)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := dpop.Verify(forge(t, other, jose.ES256, map[string]any{"typ": dpop.Type, "jwk": jose.JSONWebKey{Key: other.Public()}}, map[string]any{"jti": "same", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Check(p1, o); err != nil {
		t.Fatal(err)
	}
	if err := rc.Check(p1, o); !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("replay: %v, want ErrReplay", err)
	}
	if err := rc.Check(p2, o); err != nil {
		t.Errorf("another key's proof with the same jti: %v", err)
	}
}

// TestReplayCacheRace lets many goroutines present the same jti: exactly one is accepted.
func TestReplayCacheRace(t *testing.T) {
	c := dpop.NewReplayCache(0, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 50 {
		wg.Go(func() {
			if !c.Seen("jti", time.Now().Add(time.Minute)) {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Errorf("%d goroutines were accepted, want 1", accepted)
	}
}
