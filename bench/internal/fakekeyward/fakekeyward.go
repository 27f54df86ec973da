// Package fakekeyward is a stand-in for keyward's token endpoint in the bench's own tests: it signs with keyward's minter and keeps the rules the load generator depends on.
package fakekeyward

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/bench/internal/testbed"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/keyring"
	"github.com/keyward/keyward/internal/token"
)

// Claims are a key's claims as keyward writes them, for tokens of issuer.
func Claims(issuer string) *token.Claims {
	return &token.Claims{
		Issuer: issuer, Subject: "key:AbCdEfGhIjKlMnOp", Audience: []string{issuer}, Expiry: time.Now().Add(time.Hour),
		ClientID: "AbCdEfGhIjKlMnOp", Scope: slices.Clone(testbed.Permissions), SessionID: "ses_0123456789abcdef",
		Project: "prj_0123456789abcdef",
	}
}

// Keyward is a token endpoint with keyward's rules that matter to the load generator: Basic
// client credentials, single-use refresh tokens, reuse rejected. It signs with keyward's minter
// and publishes its metadata and JWKS, so the bench verifies its tokens as it does keyward's.
type Keyward struct {
	t      testing.TB
	URL    string
	keyset *keyring.Keyring
	minter *token.Minter
	keys   map[string]string // Authorization header → key id

	// Mu guards the counts below, which tests read after a run.
	Mu        sync.Mutex
	refresh   map[string]string // refresh token → session id; deleted when spent
	spent     map[string]bool
	Used      map[string]int // Authorization header → exchanges
	Reuses    int
	Exchanges int
	Refreshes int
	FailEvery int64 // when > 0, every failEvery-th refresh gets 400
	count     atomic.Int64
}

// New serves a fake keyward on 127.0.0.1 that knows keys, and returns it with its token endpoint.
func New(t *testing.T, keys []testbed.Key) (*Keyward, testbed.Endpoint) {
	t.Helper()
	kr, err := keyring.New(context.Background(), keyring.NewMemoryStore(keyward.SigningKeySet{}), keyring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &Keyward{t: t, keyset: kr, minter: &token.Minter{Keys: kr}, keys: map[string]string{},
		refresh: map[string]string{}, spent: map[string]bool{}, Used: map[string]int{}}
	for _, k := range keys {
		f.keys[k.Basic] = k.ID
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": f.URL, "jwks_uri": f.URL + "/.well-known/jwks.json", "token_endpoint": f.URL + "/oauth/token"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) { w.Write(kr.JWKS()) })
	mux.HandleFunc("POST /oauth/token", f.token)
	f.URL = Loopback(t, mux)
	v, err := testbed.TokenVerifier(context.Background(), f.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return f, testbed.Endpoint{URL: f.URL + "/oauth/token", Tokens: v}
}

// Mint signs c with the fake's key.
func (f *Keyward) Mint(c *token.Claims) string {
	tok, err := f.minter.Mint(c)
	if err != nil {
		f.t.Error(err)
	}
	return tok
}

func (f *Keyward) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != load.FormContentType {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") == "refresh_token" && f.FailEvery > 0 && f.count.Add(1)%f.FailEvery == 0 {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_request","error_description":"injected"}`)
		return
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	var keyID, sid string
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		id, ok := f.keys[r.Header.Get("Authorization")]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		f.Used[r.Header.Get("Authorization")]++
		f.Exchanges++
		keyID, sid = id, fmt.Sprintf("ses_%016d", f.Exchanges)
	case "refresh_token":
		tok := r.PostForm.Get("refresh_token")
		s, ok := f.refresh[tok]
		if !ok {
			if f.spent[tok] {
				f.Reuses++
			}
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		delete(f.refresh, tok)
		f.spent[tok] = true
		f.Refreshes++
		sid = s[:20]
		keyID = s[21:]
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	c := Claims(f.URL)
	c.Subject, c.ClientID, c.SessionID = "key:"+keyID, keyID, sid
	rt, _ := testbed.RandomText(43)
	f.refresh[rt] = sid + "/" + keyID
	json.NewEncoder(w).Encode(client.TokenResponse{AccessToken: f.Mint(c), TokenType: "Bearer", ExpiresIn: 3600,
		RefreshToken: rt, RefreshExpiresIn: 10800, Scope: strings.Join(c.Scope, " ")})
}

// Keys are n made-up API keys.
func Keys(n int) []testbed.Key {
	keys := make([]testbed.Key, n)
	for i := range keys {
		id := fmt.Sprintf("Key%013d", i)
		secret := "kw_" + id + "secret"
		keys[i] = testbed.NewKey(id, secret)
	}
	return keys
}

// Loopback serves h on 127.0.0.1, where the bench's transport is allowed to go.
func Loopback(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Skipf("httptest listens on %s, not 127.0.0.1", srv.URL)
	}
	return srv.URL
}
