package client_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/fakeclock"
)

// fakeServer is a token endpoint whose answers a test scripts. It checks what every client of
// the real server must respect: the form content type, nothing in the query, credentials only in
// the Basic header.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	key string
	id  string

	mu       sync.Mutex
	requests []fakeRequest
	// refuse answers the next token requests of a grant with this status and OAuth error code.
	refuse map[string]fakeError
	// delay holds every token answer back, so concurrent callers pile up behind one request.
	delay     time.Duration
	accessTTL int64
	refreshIn int64
	issued    int
	live      map[string]bool // refresh tokens not yet spent
	issuer    string          // overrides the metadata's issuer
}

type fakeError struct {
	status int
	code   string
}

type fakeRequest struct {
	Grant        string
	Form         url.Values
	BasicID      string
	BasicSecret  string
	HasBasic     bool
	RefreshToken string
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, key: key, id: id, refuse: map[string]fakeError{}, accessTTL: 60, refreshIn: 120, live: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		iss := f.srv.URL
		f.mu.Lock()
		if f.issuer != "" {
			iss = f.issuer
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"jwks_uri":%q}`, iss, f.srv.URL+"/oauth/token", f.srv.URL+"/jwks")
	})
	mux.HandleFunc("POST /oauth/token", f.token)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) URL() string { return f.srv.URL }

func (f *fakeServer) token(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		f.t.Errorf("token request with query %q and content type %q", r.URL.RawQuery, r.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.t.Errorf("token request body: %v", err)
	}
	for _, p := range []string{"client_secret", "client_id"} {
		if form.Has(p) {
			f.t.Errorf("token request sends %s in the body", p)
		}
	}
	if strings.Contains(string(body), apikey.Prefix) {
		f.t.Errorf("token request body holds the API key")
	}
	req := fakeRequest{Grant: form.Get("grant_type"), Form: form, RefreshToken: form.Get("refresh_token")}
	if h := r.Header.Get("Authorization"); h != "" {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		id, secret, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok || !strings.HasPrefix(h, "Basic ") {
			f.t.Errorf("malformed Authorization header %q", h)
		}
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		req.HasBasic, req.BasicID, req.BasicSecret = true, id, secret
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	refusal, refused := f.refuse[req.Grant]
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)

	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":"scripted"}`, code)
	}
	if refused {
		fail(refusal.status, refusal.code)
		return
	}
	switch req.Grant {
	case "client_credentials":
		if !req.HasBasic || req.BasicID != f.id || req.BasicSecret != f.key {
			fail(http.StatusUnauthorized, "invalid_client")
			return
		}
	case "refresh_token":
		f.mu.Lock()
		ok := f.live[req.RefreshToken]
		delete(f.live, req.RefreshToken)
		f.mu.Unlock()
		if !ok {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
	case "password":
		if form.Get("username") != "ada@example.com" || form.Get("password") != "correct horse" {
			fail(http.StatusBadRequest, "invalid_grant")
			return
		}
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	f.mu.Lock()
	f.issued++
	n := f.issued
	refresh := fmt.Sprintf("refresh-%d", n)
	f.live[refresh] = true
	ttl, rttl := f.accessTTL, f.refreshIn
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": fmt.Sprintf("access-%d", n), "token_type": "Bearer", "expires_in": ttl,
		"refresh_token": refresh, "refresh_expires_in": rttl, "scope": form.Get("scope"),
	})
}

// grants returns the grant types of the token requests so far, in order.
func (f *fakeServer) grants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Grant)
	}
	return out
}

func (f *fakeServer) last() fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func (f *fakeServer) setRefusal(grant string, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		delete(f.refuse, grant)
		return
	}
	f.refuse[grant] = fakeError{status, code}
}

func newClock() *fakeclock.Clock { return fakeclock.New(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)) }
