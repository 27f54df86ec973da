package kwtest

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"testing"
)

// OAuthError is an RFC 6749 §5.2 error body.
type OAuthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// RequireOAuthError checks that r is an RFC 6749 error with the given status and code: a JSON
// object with "error" (and a non-empty description), no token in it, and the no-store headers
// that every token endpoint answer carries.
func RequireOAuthError(t testing.TB, r *Response, status int, code string) *OAuthError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: want %d %s, got %s", status, code, r)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("Content-Type: want application/json, got %q", r.Header.Get("Content-Type"))
	}
	var body map[string]any
	r.JSON(t, &body)
	for k := range body {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("error body has unexpected member %q: %s", k, r)
		}
	}
	var e OAuthError
	r.JSON(t, &e)
	if e.Error != code {
		t.Fatalf("error: want %q, got %s", code, r)
	}
	if e.Description == "" {
		t.Errorf("error %q has no error_description", code)
	}
	RequireNoStore(t, r)
	return &e
}

// RequireNoStore checks the RFC 6749 §5.1 cache headers.
func RequireNoStore(t testing.TB, r *Response) {
	t.Helper()
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: want no-store, got %q (%s)", got, r)
	}
	if got := r.Header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma: want no-cache, got %q (%s)", got, r)
	}
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// RequireProblem checks that r is an application/problem+json answer with the given status,
// whose body repeats the status.
func RequireProblem(t testing.TB, r *Response, status int) *Problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: want %d, got %s", status, r)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/problem+json" {
		t.Errorf("Content-Type: want application/problem+json, got %q (%s)", r.Header.Get("Content-Type"), r)
	}
	var p Problem
	r.JSON(t, &p)
	if p.Status != status {
		t.Errorf("problem status: want %d, got %d", status, p.Status)
	}
	if p.Title == "" || p.Type == "" || p.Detail == "" {
		t.Errorf("problem lacks type, title or detail: %s", r)
	}
	return &p
}

// RequireInactive checks that an introspection answer is exactly {"active":false}: RFC 7662 §2.2
// says nothing more may be revealed about a token that is not active.
func RequireInactive(t testing.TB, r *Response) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("introspection: want 200 {\"active\":false}, got %s", r)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, r.Body); err != nil || compact.String() != `{"active":false}` {
		t.Fatalf(`introspection: want exactly {"active":false}, got %s`, r)
	}
}

// Introspection is an RFC 7662 answer.
type Introspection struct {
	Active   bool     `json:"active"`
	Scope    string   `json:"scope"`
	ClientID string   `json:"client_id"`
	Sub      string   `json:"sub"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Iss      string   `json:"iss"`
	Jti      string   `json:"jti"`
	Sid      string   `json:"sid"`
	Project  string   `json:"project"`
	IPs      []string `json:"ips"`
}

// RequireActive checks that an introspection answer says active and decodes it.
func RequireActive(t testing.TB, r *Response) *Introspection {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("introspection: want 200, got %s", r)
	}
	var in Introspection
	r.JSON(t, &in)
	if !in.Active {
		t.Fatalf("introspection: want active, got %s", r)
	}
	return &in
}

// RequireNoServerError fails the test on any 5xx and, when the path is the token endpoint, on any
// answer that carries a token.
func RequireNoServerError(t testing.TB, r *Response) {
	t.Helper()
	if r.Status >= 500 {
		t.Errorf("server error: %s", r)
	}
	if strings.Contains(string(r.Body), "access_token") {
		t.Errorf("hostile request got a token: %s", r)
	}
}
