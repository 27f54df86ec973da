package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/middleware"
)

// tokenVerifier checks the access tokens of the keyward server at issuer the way a resource
// server does, through the public middleware, with neither its cache nor its revocation feed, so
// that every call verifies a signature. No leeway: a token is expired at its exp.
func tokenVerifier(ctx context.Context, issuer string) (*middleware.Verifier, error) {
	return middleware.New(ctx, middleware.Config{Issuer: issuer, CacheSize: -1, SkipRevocationFeed: true, Leeway: -1})
}

// checkKeywardAnswer proves that a token endpoint answer is a real token pair for the key keyID:
// a Bearer access token that tokens accepts (a signature by a key of the issuer's JWKS, typ
// at+jwt, iss, aud, exp), naming the key and a session, with the bench's permissions, and a
// refresh token of at least 256 bits.
func checkKeywardAnswer(body []byte, tokens *middleware.Verifier, keyID string) (*client.TokenResponse, *middleware.Caller, error) {
	var tr client.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, nil, errNoToken
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
	case !sameSet(c.Permissions, benchPermissions) || !sameSet(strings.Fields(tr.Scope), benchPermissions):
		return nil, nil, fmt.Errorf("scope %q, want the key's permissions %v", strings.Join(c.Permissions, " "), benchPermissions)
	}
	if fast, ok := refreshTokenOf(body); !ok || fast != tr.RefreshToken {
		return nil, nil, errors.New("the refresh token cannot be read off the answer without a JSON decoder")
	}
	return &tr, c, nil
}

var refreshTokenField = []byte(`"refresh_token":"`)

// refreshTokenOf reads the refresh token out of a token answer without decoding the JSON, which
// would cost the load generator as much CPU as a small part of the server's work. The first answer
// of a scenario is checked against a full decode.
func refreshTokenOf(body []byte) (string, bool) {
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
