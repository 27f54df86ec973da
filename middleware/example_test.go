package middleware_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/middleware"
)

// A platform API accepts keyward access tokens: the Verifier checks every request, and
// RequirePermission guards each route with the permission it needs and, where the path has a
// {project}, with the project the token is bound to.
func Example() {
	issuer, token := exampleIssuer() // keyward's URL, and an access token it issued

	v, err := middleware.New(context.Background(), middleware.Config{Issuer: issuer})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /v1/projects/{project}/containers", middleware.RequirePermission("containers-view")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := middleware.FromContext(r.Context())
			fmt.Fprintf(w, "containers of %s, for %s\n", caller.Project, caller.Subject)
		})))
	api := v.Handler(mux)

	for _, req := range []struct{ project, auth string }{
		{"prj_1", "Bearer " + token},
		{"prj_2", "Bearer " + token}, // the token is prj_1's
		{"prj_1", ""},
		{"prj_1", "Bearer kw_AAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbcccccc"},
	} {
		r := httptest.NewRequest("GET", "/v1/projects/"+req.project+"/containers", nil)
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 containers of prj_1, for key:AAAAAAAAAAAAAAAA
	// 403 {"error":"insufficient_scope","error_description":"The access token is for another project than the one in the path (paths take the project id)."}
	// 401 {"error_description":"This API needs an access token: send Authorization: Bearer <token>."}
	// 401 {"error":"invalid_token","error_description":"This is an API key, not an access token. Exchange it first at https://auth.example/oauth/token (grant_type=client_credentials, the key as HTTP Basic credentials) and send the access_token as the bearer token."}
}

// RequirePermission answers 403 insufficient_scope, naming what is missing. Handlers can be
// tested without a server by putting a Caller in the request's context.
func ExampleRequirePermission() {
	h := middleware.RequirePermission("containers-manage")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))

	r := httptest.NewRequest("POST", "/v1/projects/prj_1/containers", nil)
	viewer := &middleware.Caller{Subject: "key:AAAAAAAAAAAAAAAA", Permissions: []string{"containers-view"}}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r.WithContext(middleware.NewContext(r.Context(), viewer)))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output: 403 Bearer error="insufficient_scope", error_description="The access token lacks a permission this needs: containers-manage.", scope="containers-manage"
}

// RequireProject binds a route whose project wildcard has another name than {project}.
func ExampleRequireProject() {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/tenants/{tenant}/invoices", middleware.RequireProject("tenant")(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "invoices") })))

	key := &middleware.Caller{Subject: "key:AAAAAAAAAAAAAAAA", Project: "prj_1"}
	for _, path := range []string{"/v1/tenants/prj_1/invoices", "/v1/tenants/prj_2/invoices"} {
		r := httptest.NewRequest("GET", path, nil)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r.WithContext(middleware.NewContext(r.Context(), key)))
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 403
}

// A readiness check can report whether revocations are arriving.
func ExampleVerifier_FeedStatus() {
	issuer, _ := exampleIssuer()
	v, err := middleware.New(context.Background(), middleware.Config{Issuer: issuer, MaxStaleness: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if st := v.FeedStatus(); st.Stale > 30*time.Second {
			http.Error(w, fmt.Sprintf("revocation feed down for %s: %v", st.Stale, st.Err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(w.Body.String())
	// Output: ok
}

// exampleIssuer starts a stand-in for a keyward server, enough for the examples (metadata, JWKS,
// an empty revocation feed), and returns its issuer URL and a token it signed. It is shared by the
// examples and runs until the test binary exits.
func exampleIssuer() (issuer, token string) {
	exampleOnce.Do(startExampleIssuer)
	return exampleURL, exampleToken
}

var (
	exampleOnce              sync.Once
	exampleURL, exampleToken string
)

func startExampleIssuer() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	// The issuer URL is what tokens name in iss; the server behind it is local.
	exampleURL = "https://auth.example"
	http.DefaultTransport = rewrite{host: "auth.example", target: srv.Listener.Addr().String(), next: http.DefaultTransport}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"issuer": exampleURL, "token_endpoint": exampleURL + "/oauth/token", "jwks_uri": exampleURL + "/.well-known/jwks.json",
		})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") == "text/event-stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, `{"data":[],"cursor":"0"}`)
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{
		"iss": exampleURL, "aud": exampleURL, "sub": "key:AAAAAAAAAAAAAAAA", "client_id": "AAAAAAAAAAAAAAAA",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "1", "sid": "ses_1",
		"scope": "containers-view", "project": "prj_1",
	})
	jws, err := signer.Sign(payload)
	if err != nil {
		log.Fatal(err)
	}
	exampleToken, _ = jws.CompactSerialize()
}

// rewrite sends requests for host to the local stand-in, and others on unchanged.
type rewrite struct {
	host, target string
	next         http.RoundTripper
}

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != rw.host {
		return rw.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	u := *r.URL
	u.Scheme, u.Host = "http", rw.target
	r.URL = &u
	return rw.next.RoundTrip(r)
}
