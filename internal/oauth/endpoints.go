package oauth

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/accesstoken"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/dpop"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/token"
)

// handleRevoke implements RFC 7009. Possession of a token is enough to end its session, so no
// client authentication is required; unknown tokens get 200 as §2.2 asks, so the endpoint reveals
// nothing.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw := f["token"]
	if raw == "" {
		s.fail(w, r, invalidRequest("The token parameter is missing."))
		return
	}
	ctx := r.Context()
	if isKeyRevocation(raw) {
		if err := s.revokeKey(ctx, r, raw); err != nil {
			s.fail(w, r, err)
			return
		}
		noStore(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	sid := ""
	if named, ok := token.ParseRefreshToken(raw); ok {
		sess, err := s.Store.RefreshTokenSession(ctx, named, token.HashRefreshToken(raw))
		if err == nil {
			sid = sess.ID
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			s.fail(w, r, storeError(err))
			return
		}
	} else if c, err := s.Verifier.Verify(raw); err == nil {
		sid = c.SessionID
	}
	if sid != "" {
		err := s.Store.RevokeSession(ctx, sid, "revoked by client", s.Now())
		if err != nil && keyward.ErrorCode(err) != keyward.ENOTFOUND {
			s.fail(w, r, storeError(err))
			return
		}
	}
	noStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// introspection is the RFC 7662 response of an active token.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	TokenType string   `json:"token_type"`
	Exp       int64    `json:"exp"`
	Iat       int64    `json:"iat"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud"`
	Iss       string   `json:"iss"`
	Jti       string   `json:"jti"`
	Sid       string   `json:"sid"`
	Project   string   `json:"project,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	// Cnf names the key a DPoP-bound token's proofs must be signed by (RFC 9449 §6.2).
	Cnf *accesstoken.Confirmation `json:"cnf,omitempty"`
}

var inactive = struct {
	Active bool `json:"active"`
}{false}

// caller is who asks to introspect: an admin, a user, or a key of one project.
type caller struct {
	admin  bool
	userID string
	keyPrj string // the project of a key caller
}

// handleIntrospect implements RFC 7662 for access tokens. The caller must authenticate, and may
// only learn about tokens of projects it can see: for anything else the answer is exactly
// {"active":false}, the same as for an expired, unknown or revoked token.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	who, err := s.introspectionCaller(ctx, r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw := f["token"]
	if raw == "" {
		s.fail(w, r, invalidRequest("The token parameter is missing."))
		return
	}
	// The token is live exactly when /v1 would accept it.
	p, err := s.Auth.Bearer(ctx, raw)
	if keyward.ErrorCode(err) == keyward.EUNAUTHORIZED {
		writeJSON(w, http.StatusOK, inactive)
		return
	} else if err != nil {
		s.fail(w, r, storeError(err))
		return
	}
	c := p.Claims
	if !s.mayIntrospect(ctx, who, c) {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	in := introspection{
		Active: true, Scope: strings.Join(c.Scope, " "), ClientID: c.ClientID, TokenType: "Bearer",
		Exp: c.Expiry.Unix(), Iat: c.IssuedAt.Unix(), Sub: c.Subject, Aud: c.Audience, Iss: c.Issuer,
		Jti: c.ID, Sid: c.SessionID, Project: c.Project, IPs: c.IPs,
	}
	if c.Confirmation != nil {
		in.TokenType, in.Cnf = tokenTypeDPoP, c.Confirmation
	}
	writeJSON(w, http.StatusOK, in)
}

// introspectionCaller authenticates the caller with a bearer access token or HTTP Basic with an
// API key.
func (s *Server) introspectionCaller(ctx context.Context, r *http.Request, f form) (*caller, error) {
	h := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(h, " ")
	if strings.EqualFold(scheme, "Bearer") {
		p, err := s.Auth.FromRequest(r)
		if keyward.ErrorCode(err) == keyward.EINTERNAL {
			return nil, storeError(err) // the token could not be checked, which says nothing about it
		} else if err != nil {
			e := oauthError(http.StatusUnauthorized, errInvalidClient, "The bearer token is not valid.")
			e.bearer = true
			return nil, e
		}
		if !p.AllowsIP(s.ClientIP(r)) {
			return nil, keyOutsideNetworks()
		}
		return principalCaller(p), nil
	}
	client, err := clientAuthentication(r, f)
	if err != nil {
		return nil, err
	}
	if !client.Present {
		return nil, invalidClient("Authenticate with a bearer access token or with HTTP Basic and an API key.", client.Basic)
	}
	if !apikey.LooksLike(client.Secret) {
		return nil, invalidClient("The client credentials are not valid.", client.Basic)
	}
	req := newRequest(f, client, s.ClientIP(r), s.Now())
	req.throttled = s.throttle(req) // a key is unguessable: only a wrong one is refused for it
	// Read from the store, not the key cache: no write transaction follows to notice that the
	// key was deleted since it was cached.
	k, err := s.authenticateKey(ctx, req, false)
	if err != nil {
		return nil, s.refuse(ctx, req, err)
	}
	if !k.AllowsIP(req.ip) {
		return nil, keyOutsideNetworks()
	}
	return &caller{keyPrj: k.ProjectID}, nil
}

// keyOutsideNetworks refuses a key, or a key's token, used from an address outside the key's
// networks: introspection is one more use of the key, and /v1 refuses the same.
func keyOutsideNetworks() *Error {
	return oauthError(http.StatusBadRequest, errUnauthorizedClient, "This API key may not be used from your address.")
}

func principalCaller(p *authn.Principal) *caller {
	if p.Key != nil {
		return &caller{keyPrj: p.Key.ProjectID}
	}
	if p.Session != nil && p.Session.ProjectID != "" {
		// A user token narrowed to one project is the kind handed to resource servers; it sees
		// that project only, like a key, and never acts as the instance admin.
		return &caller{keyPrj: p.Session.ProjectID}
	}
	return &caller{admin: p.User.Admin, userID: p.User.ID}
}

// mayIntrospect decides whether the caller may see the token: the instance admin always; a key
// only tokens of its own project; a user tokens of projects it belongs to, and its own tokens.
func (s *Server) mayIntrospect(ctx context.Context, who *caller, c *token.Claims) bool {
	switch {
	case who.admin:
		return true
	case who.keyPrj != "":
		return c.Project != "" && c.Project == who.keyPrj
	case c.Subject == "user:"+who.userID:
		return true
	case c.Project != "":
		_, err := s.Store.Member(ctx, c.Project, who.userID)
		return err == nil
	}
	return false
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(s.Issuer, "/")
	grants := []string{"client_credentials", "refresh_token", client.GrantDeviceCode}
	if s.Federation != nil {
		grants = append(grants, client.GrantTokenExchange, client.GrantJWTBearer)
	}
	if s.PasswordGrant {
		grants = slices.Insert(grants, 0, "password")
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, client.Metadata{
		Issuer:                                 s.Issuer,
		TokenEndpoint:                          base + "/oauth/token",
		JWKSURI:                                base + "/.well-known/jwks.json",
		RevocationEndpoint:                     base + "/oauth/revoke",
		IntrospectionEndpoint:                  base + "/oauth/introspect",
		DeviceAuthorizationEndpoint:            base + "/oauth/device_authorization",
		GrantTypesSupported:                    grants,
		ResponseTypesSupported:                 []string{},
		ScopesSupported:                        s.Catalog.Names(),
		TokenEndpointAuthMethodsSupported:      []string{"client_secret_basic", "client_secret_post"},
		RevocationEndpointAuthMethodsSupported: []string{"none"},
		IntrospectionAuthMethodsSupported:      []string{"client_secret_basic", "bearer"},
		SigningAlgValuesSupported:              []string{s.SigningAlg},
		DPoPSigningAlgValuesSupported:          dpop.DefaultAlgs,
	})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.JWKSCacheTTL.Seconds())))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(s.Keys.JWKS())
}
