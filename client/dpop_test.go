package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/fakeclock"
)

// dpopServer is a token endpoint and an API that check every DPoP proof with the dpop package, as
// keyward and its middleware do: each asks for a nonce of its own before it accepts a proof,
// binds its tokens to the key that proved possession, and refuses a replayed proof.
type dpopServer struct {
	t      *testing.T
	srv    *httptest.Server // the token endpoint
	apiSrv *httptest.Server
	key    string

	mu         sync.Mutex
	bound      map[string]string // access and refresh tokens → the jkt they are bound to
	seen       map[string]bool   // jtis of every proof accepted
	issued     int
	grants     []string
	apiCalls   []string // method, URL and body of every API request accepted
	tokenNonce string   // what the token endpoint asks for; it changes when rotate is set
	apiNonce   string
	nonceAsked map[string]int // how often each side answered use_dpop_nonce
	alwaysNew  bool           // every proof is refused for want of a nonce never seen before
	tokenType  string         // the token_type answered; DPoP unless a test downgrades it
	now        func() time.Time
}

func newDPoPServer(t *testing.T) *dpopServer {
	t.Helper()
	f := newFakeServer(t) // only for a well-formed API key
	s := &dpopServer{t: t, key: f.key, bound: map[string]string{}, seen: map[string]bool{},
		tokenNonce: "token-nonce-1", apiNonce: "api-nonce-1", nonceAsked: map[string]int{}, tokenType: "DPoP"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"dpop_signing_alg_values_supported":["ES256"]}`, s.srv.URL, s.srv.URL+"/oauth/token")
	})
	mux.HandleFunc("POST /oauth/token", s.token)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	// The API is a server of its own, with its own nonce, as RFC 9449 §9 has it.
	s.apiSrv = httptest.NewServer(http.HandlerFunc(s.api))
	t.Cleanup(s.apiSrv.Close)
	return s
}

// verify checks a request's proof and returns its jkt, or the nonce error to answer.
func (s *dpopServer) verify(r *http.Request, nonce, accessToken string) (string, error) {
	proof, err := dpop.Verify(r.Header.Get("DPoP"), dpop.Options{
		Method: r.Method, URL: "http://" + r.Host + r.URL.Path, AccessToken: accessToken,
		Now: s.now(), MaxAge: time.Minute, Leeway: 5 * time.Second, Nonce: nonce,
	})
	if err != nil {
		return "", err
	}
	if s.seen[proof.JTI] {
		s.t.Errorf("the client sent proof %s twice", proof.JTI)
	}
	s.seen[proof.JTI] = true
	return proof.JKT, nil
}

func (s *dpopServer) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oauthError := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	if s.alwaysNew {
		s.tokenNonce = fmt.Sprintf("token-nonce-%d", s.nonceAsked["token"]+2)
	}
	jkt, err := s.verify(r, s.tokenNonce, "")
	if err != nil {
		if r.Header.Get("DPoP") != "" && errors.Is(err, dpop.ErrNonce) {
			s.nonceAsked["token"]++
			w.Header().Set("DPoP-Nonce", s.tokenNonce)
			oauthError("use_dpop_nonce")
			return
		}
		s.t.Errorf("token endpoint: %v", err)
		oauthError("invalid_dpop_proof")
		return
	}
	_ = r.ParseForm()
	grant := r.PostForm.Get("grant_type")
	s.grants = append(s.grants, grant)
	if grant == "refresh_token" && s.bound[r.PostForm.Get("refresh_token")] != jkt {
		s.t.Errorf("refresh with a proof by another key")
		oauthError("invalid_grant")
		return
	}
	s.issued++
	access, refresh := fmt.Sprintf("access-%d", s.issued), fmt.Sprintf("refresh-%d", s.issued)
	s.bound[access], s.bound[refresh] = jkt, jkt
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": s.tokenType, "expires_in": 60,
		"refresh_token": refresh, "refresh_expires_in": 600})
}

func (s *dpopServer) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	if !ok || s.bound[access] == "" {
		s.t.Errorf("API: authorization %q", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	jkt, err := s.verify(r, s.apiNonce, access)
	if err != nil {
		if errors.Is(err, dpop.ErrNonce) {
			s.nonceAsked["api"]++
			w.Header().Set("DPoP-Nonce", s.apiNonce)
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.t.Errorf("API: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if jkt != s.bound[access] {
		s.t.Errorf("API: a proof by another key than the token's")
	}
	body, _ := io.ReadAll(r.Body)
	s.apiCalls = append(s.apiCalls, r.Method+" "+r.URL.String()+" "+string(body))
	w.WriteHeader(http.StatusNoContent)
}

func dpopSource(t *testing.T, s *dpopServer, c *fakeclock.Clock) *client.Config {
	t.Helper()
	key, err := client.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	return &client.Config{Server: s.srv.URL, Key: s.key, Now: c.Now, DPoP: key}
}

// TestDPoPTokenSourceAndHTTPClient: a source with a DPoP key gets tokens bound to it, following
// each server's nonce, refreshes with a proof by the same key, and the HTTP client sends every
// request with a fresh proof bound to the token, the method and the URL, sending a request again,
// body included, when the API asks for its nonce.
func TestDPoPTokenSourceAndHTTPClient(t *testing.T) {
	s, c := newDPoPServer(t), newClock()
	s.now = c.Now
	cfg := dpopSource(t, s, c)
	ts := client.TokenSource(context.Background(), *cfg)
	hc := client.HTTPClient(context.Background(), ts)

	tok := mustToken(t, ts)
	if tok.TokenType != "DPoP" || tok.AccessToken != "access-1" {
		t.Fatalf("token %s %s; want the DPoP token access-1", tok.TokenType, tok.AccessToken)
	}
	resp, err := hc.Post(s.apiSrv.URL+"/api/containers?limit=5#top", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("API answered %d", resp.StatusCode)
	}
	c.Advance(55 * time.Second) // past the renewal point: the source refreshes
	resp, err = hc.Get(s.apiSrv.URL + "/api/containers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	s.mu.Lock()
	defer s.mu.Unlock()
	if got, want := strings.Join(s.grants, ","), "client_credentials,refresh_token"; got != want {
		t.Errorf("grants %s; want %s", got, want)
	}
	if got, want := strings.Join(s.apiCalls, "|"), "POST /api/containers?limit=5 payload|GET /api/containers "; got != want {
		t.Errorf("API calls %q; want %q", got, want)
	}
	if s.nonceAsked["token"] != 1 || s.nonceAsked["api"] != 1 {
		t.Errorf("nonce asked %v; each server once, then its nonce is kept", s.nonceAsked)
	}
	if s.bound["access-1"] == "" || s.bound["access-1"] != s.bound["access-2"] {
		t.Errorf("the refreshed token is bound to another key than the first")
	}
	t.Logf("%d proofs, all different", len(s.seen))
}

// TestDPoPRefusesABearerAnswer: a server that answers a DPoP request with a bearer token would
// hand out a token anyone who copies it can use; the client refuses it rather than downgrade.
func TestDPoPRefusesABearerAnswer(t *testing.T) {
	s, c := newDPoPServer(t), newClock()
	s.now = c.Now
	s.tokenType = "Bearer"
	_, err := client.TokenSource(context.Background(), *dpopSource(t, s, c)).Token()
	if err == nil || !strings.Contains(err.Error(), "Bearer token where a DPoP token was asked for") {
		t.Fatalf("err = %v; want the downgrade refused", err)
	}
}

// TestDPoPNonceFollowedOnce: a token endpoint that asks for a new nonce at every request gets two
// requests, not a loop, and its refusal is the error.
func TestDPoPNonceFollowedOnce(t *testing.T) {
	s, c := newDPoPServer(t), newClock()
	s.now = c.Now
	s.alwaysNew = true
	_, err := client.TokenSource(context.Background(), *dpopSource(t, s, c)).Token()
	if err == nil || !strings.Contains(err.Error(), "use_dpop_nonce") {
		t.Fatalf("err = %v; want the use_dpop_nonce refusal", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonceAsked["token"] != 2 {
		t.Errorf("%d requests refused for a nonce; want 2", s.nonceAsked["token"])
	}
}
