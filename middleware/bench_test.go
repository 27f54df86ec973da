package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/dpop"
)

// discard is a ResponseWriter that costs nothing, so benchmarks measure the middleware.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// benchmarkHandler sends one protected request per iteration through Handler and
// RequirePermission to a handler that does nothing.
func benchmarkHandler(b *testing.B, cacheSize int) {
	is, clock := newTestIssuer(b), newTestClock()
	v := newVerifier(b, is, clock, func(c *Config) { c.CacheSize = cacheSize })
	claims := is.claims(clock.Now())
	claims["ips"] = []string{"127.0.0.0/8"}
	r := bearerRequest(is.mint(claims, nil))
	ran := false
	h := v.Handler(RequirePermission("containers-view")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
	})))
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if !ran {
		b.Fatal("the request was refused")
	}
}

// BenchmarkHandlerCached is the hot path: a token seen before.
func BenchmarkHandlerCached(b *testing.B) { benchmarkHandler(b, 0) }

// BenchmarkHandlerUncached verifies the signature on every request.
func BenchmarkHandlerUncached(b *testing.B) { benchmarkHandler(b, -1) }

// BenchmarkHandlerCachedParallel is the hot path on every core at once.
func BenchmarkHandlerCachedParallel(b *testing.B) {
	is, clock := newTestIssuer(b), newTestClock()
	v := newVerifier(b, is, clock)
	tok := is.mint(is.claims(clock.Now()), nil)
	h := v.Handler(RequirePermission("containers-view")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := bearerRequest(tok)
		w := &discard{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkGoJoseVerify is the floor of an uncached request: parsing and verifying the same token
// with go-jose alone, claims decoded, nothing checked.
func BenchmarkGoJoseVerify(b *testing.B) {
	is, clock := newTestIssuer(b), newTestClock()
	raw := is.mint(is.claims(clock.Now()), nil)
	pub := is.keys[0].key.(*ecdsa.PrivateKey).Public()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			b.Fatal(err)
		}
		var c accesstoken.Claims
		if err := tok.Claims(pub, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefusedRawKey is what a misconfigured client sending its API key costs.
func BenchmarkRefusedRawKey(b *testing.B) {
	is, clock := newTestIssuer(b), newTestClock()
	v := newVerifier(b, is, clock)
	h := v.Handler(http.NotFoundHandler())
	r := bearerRequest("kw_AAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbcccccc")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// BenchmarkHandlerDPoP is BenchmarkHandlerCached with a DPoP-bound token and a fresh proof per
// request, as a client sends: the token comes from the cache, the proof is verified every time.
// Building the proofs is outside the timed loop.
func BenchmarkHandlerDPoP(b *testing.B) {
	is, clock := newTestIssuer(b), newTestClock()
	v := newVerifier(b, is, clock, func(c *Config) { c.PublicURL = "https://api.example.com" })
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	claims := is.claims(clock.Now())
	claims["cnf"] = map[string]string{"jkt": dpop.Thumbprint(key.Public())}
	tok := is.mint(claims, nil)
	const batch = 1000
	proofs := make([]string, batch)
	for i := range proofs {
		if proofs[i], err = dpop.NewProof(key, "GET", "https://api.example.com/v1/projects/prj_1/containers", dpop.WithAccessToken(tok), dpop.WithTime(clock.Now())); err != nil {
			b.Fatal(err)
		}
	}
	refused := 0
	h := v.Handler(RequirePermission("containers-view")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	w := &discard{h: http.Header{}}
	r := bearerRequest(tok)
	r.Header.Set("Authorization", "DPoP "+tok)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			for j := range proofs {
				proofs[j], _ = dpop.NewProof(key, "GET", "https://api.example.com/v1/projects/prj_1/containers", dpop.WithAccessToken(tok), dpop.WithTime(clock.Now()))
			}
			i = 0
			b.StartTimer()
		}
		r.Header.Set("DPoP", proofs[i])
		i++
		w.h = http.Header{}
		h.ServeHTTP(w, r)
		if w.h.Get("WWW-Authenticate") != "" {
			refused++
		}
	}
	if refused > 0 {
		b.Fatalf("%d requests were refused", refused)
	}
}
