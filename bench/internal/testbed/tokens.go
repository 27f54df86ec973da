package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/load"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/middleware"
)

// TokenVerifier checks the access tokens of the keyward server at issuer the way a resource
// server does, through the public middleware, with neither its cache nor its revocation feed, so
// that every call verifies a signature. No leeway: a token is expired at its exp.
func TokenVerifier(ctx context.Context, issuer string) (*middleware.Verifier, error) {
	return middleware.New(ctx, middleware.Config{Issuer: issuer, CacheSize: -1, SkipRevocationFeed: true, Leeway: -1})
}

// CheckAnswer proves that a token endpoint answer is a real token pair for the key keyID:
// a Bearer access token that tokens accepts (a signature by a key of the issuer's JWKS, typ
// at+jwt, iss, aud, exp), naming the key and a session, with the bench's permissions, and a
// refresh token of at least 256 bits.
func CheckAnswer(body []byte, tokens *middleware.Verifier, keyID string) (*client.TokenResponse, *middleware.Caller, error) {
	var tr client.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, nil, ErrNoToken
	}
	c, err := tokens.Verify(tr.AccessToken)
	if err != nil {
		return nil, nil, fmt.Errorf("access token: %w", err)
	}
	switch {
	case !strings.EqualFold(tr.TokenType, "Bearer"):
		return nil, nil, fmt.Errorf("token_type %q, want Bearer", tr.TokenType)
	case tr.ExpiresIn <= 0 || tr.RefreshExpiresIn <= 0:
		return nil, nil, errors.New("expires_in and refresh_expires_in must be positive")
	case len(tr.RefreshToken) < 43: // 256 bits in base64url or base62
		return nil, nil, fmt.Errorf("refresh token of %d characters is too short", len(tr.RefreshToken))
	case c.KeyID != keyID:
		return nil, nil, fmt.Errorf("sub %q and client_id %q do not name key %s", c.Subject, c.ClientID, keyID)
	case c.SessionID == "" || c.TokenID == "":
		return nil, nil, errors.New("the access token lacks sid or jti")
	case !sameSet(c.Permissions, Permissions) || !sameSet(strings.Fields(tr.Scope), Permissions):
		return nil, nil, fmt.Errorf("scope %q, want the key's permissions %v", strings.Join(c.Permissions, " "), Permissions)
	}
	if fast, ok := RefreshTokenOf(body); !ok || fast != tr.RefreshToken {
		return nil, nil, errors.New("the refresh token cannot be read off the answer without a JSON decoder")
	}
	return &tr, c, nil
}

var refreshTokenField = []byte(`"refresh_token":"`)

// RefreshTokenOf reads the refresh token out of a token answer without decoding the JSON, which
// would cost the load generator as much CPU as a small part of the server's work. The first answer
// of a scenario is checked against a full decode.
func RefreshTokenOf(body []byte) (string, bool) {
	i := bytes.Index(body, refreshTokenField)
	if i < 0 {
		return "", false
	}
	rest := body[i+len(refreshTokenField):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ErrNoToken is an answer without the token it should hold.
var ErrNoToken = errors.New("the answer holds no token")

// APIClient is one API client of the verification scenarios: a key's access token, reused on
// every request as real clients do, and the path of its project's containers.
type APIClient struct {
	Auth string // "Bearer …"
	Path string
}

// APIClients exchanges every key once: the tokens the verification scenarios send.
func APIClients(ctx context.Context, kw *Keyward, keys []Key) ([]APIClient, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: load.NewTransport(4, nil)}
	defer c.CloseIdleConnections()
	var out []APIClient
	for _, k := range keys {
		status, body, err := load.Send(ctx, c, http.MethodPost, kw.Base+"/oauth/token", load.FormContentType, k.Basic, strings.NewReader("grant_type=client_credentials"))
		if err != nil || status != http.StatusOK {
			return nil, fmt.Errorf("exchange for the API clients: HTTP %d %v", status, err)
		}
		tr, caller, err := CheckAnswer(body, kw.Tokens, k.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, APIClient{Auth: "Bearer " + tr.AccessToken, Path: "/v1/projects/" + caller.Project + "/containers"})
	}
	return out, nil
}
