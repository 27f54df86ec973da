package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// unthrottled lifts the failed-attempt limit for servers whose tests fail on purpose many times
// from one address; throttling has its own test.
func unthrottled(c *server.Config) { c.FailedAttemptsPerMinute = 1 << 20 }

// project returns a project as the management API shows it.
func project(t *testing.T, s *kwtest.Server, bearer, ref string) *kwtest.Project {
	t.Helper()
	r := s.API(t, http.MethodGet, "/v1/projects/"+url.PathEscape(ref), bearer, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET project %q: %s", ref, r)
	}
	var p kwtest.Project
	r.JSON(t, &p)
	return &p
}

func TestTokenFlow(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	def := project(t, s, admin, "default")
	other := s.CreateProject(t, admin, "other")

	t.Run("an unmodified x/oauth2 clientcredentials client gets a token that another JOSE library verifies from the JWKS alone", func(t *testing.T) {
		t.Parallel()
		const name = "ci-runner-Qz7xW"
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: name, Permissions: []string{"containers-view", "images-view"}})
		md := s.Metadata(t)
		cfg := clientcredentials.Config{ClientID: k.ID, ClientSecret: k.Secret, TokenURL: md.TokenEndpoint}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.HTTP.Client())
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatalf("clientcredentials.Config.Token: %v", err)
		}
		if tok.TokenType != "Bearer" || tok.RefreshToken == "" || time.Until(tok.Expiry) < time.Hour {
			t.Errorf("token: type %q, refresh token %t, expiry in %s", tok.TokenType, tok.RefreshToken != "", time.Until(tok.Expiry))
		}

		set, err := jwk.Fetch(ctx, md.JWKSURI, jwk.WithHTTPClient(s.HTTP.Client()))
		if err != nil {
			t.Fatalf("jwk.Fetch(%s): %v", md.JWKSURI, err)
		}
		raw := []byte(tok.AccessToken)
		parsed, err := jwt.Parse(raw, jwt.WithKeySet(set), jwt.WithIssuer(md.Issuer), jwt.WithAudience(s.Config.Issuer),
			jwt.WithRequiredClaim("exp"), jwt.WithRequiredClaim("iat"), jwt.WithRequiredClaim("jti"))
		if err != nil {
			t.Fatalf("jwx rejects the access token: %v", err)
		}
		msg, err := jws.Parse(raw)
		if err != nil || len(msg.Signatures()) != 1 {
			t.Fatalf("jws.Parse: %v", err)
		}
		if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "at+jwt" {
			t.Errorf("typ header: want at+jwt, got %q", typ)
		}
		// The verifier really checks: the same token fails for another audience or issuer.
		if _, err := jwt.Parse(raw, jwt.WithKeySet(set), jwt.WithAudience("https://api.elsewhere.example")); err == nil {
			t.Error("jwx accepted the token for another audience")
		}
		if _, err := jwt.Parse(raw, jwt.WithKeySet(set), jwt.WithIssuer("https://elsewhere.example")); err == nil {
			t.Error("jwx accepted the token from another issuer")
		}

		claims := map[string]any{}
		for _, name := range parsed.Keys() {
			var v any
			if err := parsed.Get(name, &v); err != nil {
				t.Fatalf("claim %s: %v", name, err)
			}
			claims[name] = v
		}
		want := map[string]any{
			"sub": "key:" + k.ID, "client_id": k.ID, "scope": "containers-view images-view", "project": def.ID,
		}
		for name, v := range want {
			if claims[name] != v {
				t.Errorf("claim %s: want %v, got %v", name, v, claims[name])
			}
		}
		if sid, _ := claims["sid"].(string); !strings.HasPrefix(sid, keyward.PrefixSession) {
			t.Errorf("claim sid: want a session id, got %v", claims["sid"])
		}
		if _, ok := claims["ips"]; ok {
			t.Errorf("a key without address restriction got an ips claim: %v", claims["ips"])
		}
		header, payload := kwtest.DecodeJWT(t, tok.AccessToken)
		everything, _ := json.Marshal([]any{header, payload})
		secret := strings.TrimPrefix(k.Secret, "kw_")[16:]
		for _, leak := range []string{name, k.Secret, secret, k.Secret[len(k.Secret)-12:]} {
			if strings.Contains(string(everything), leak) || strings.Contains(tok.AccessToken, leak) {
				t.Errorf("the access token contains %q (the key's name or secret): %s", leak, everything)
			}
		}
	})

	t.Run("the key list shows the id and hint, never the secret", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "listed", Permissions: []string{"images-view"}})
		if k.Hint != k.Secret[len(k.Secret)-4:] {
			t.Errorf("hint %q, want the key's last four characters", k.Hint)
		}
		for _, path := range []string{"/v1/projects/default/api-keys", "/v1/projects/default/api-keys/" + k.ID} {
			r := s.API(t, http.MethodGet, path, admin, nil)
			if r.Status != http.StatusOK || !strings.Contains(string(r.Body), k.ID) || !strings.Contains(string(r.Body), k.Hint) {
				t.Errorf("GET %s: want the key with its hint, got %s", path, r)
			}
			if strings.Contains(string(r.Body), k.Secret[3:len(k.Secret)-6]) || strings.Contains(string(r.Body), `"key":`) {
				t.Errorf("GET %s shows the secret: %s", path, r)
			}
		}
	})

	t.Run("a key restricted to networks carries them in the ips claim", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "restricted", Permissions: []string{"dns-view"},
			IPs: []string{"127.0.0.1", "203.0.113.0/24", "2001:db8::/32"}})
		tok := s.Exchange(t, k.Secret)
		_, claims := kwtest.DecodeJWT(t, tok.AccessToken)
		got, _ := json.Marshal(claims["ips"])
		if string(got) != `["127.0.0.1","203.0.113.0/24","2001:db8::/32"]` {
			t.Errorf("ips claim: got %s", got)
		}
	})

	t.Run("the token response has the documented lifetimes, type and cache headers", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "lifetimes", Permissions: []string{"images-view", "containers-view"}})
		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret))
		tok := kwtest.RequireToken(t, r)
		kwtest.RequireNoStore(t, r)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type: %q", ct)
		}
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 7200 || tok.RefreshExpiresIn != 10800 {
			t.Errorf("token_type %q expires_in %d refresh_expires_in %d; want Bearer 7200 10800", tok.TokenType, tok.ExpiresIn, tok.RefreshExpiresIn)
		}
		if tok.Scope != "containers-view images-view" {
			t.Errorf("scope: want the key's permissions in catalog order, got %q", tok.Scope)
		}
		_, claims := kwtest.DecodeJWT(t, tok.AccessToken)
		exp, _ := claims["exp"].(float64)
		iat, _ := claims["iat"].(float64)
		if exp-iat != 7200 {
			t.Errorf("exp - iat = %v, want 7200", exp-iat)
		}
		if got := int64(iat); got != s.Clock.Now().Unix() {
			t.Errorf("iat = %d, want the server's clock %d", got, s.Clock.Now().Unix())
		}
	})

	t.Run("a key authenticates with Basic, with a form post, and alone in the form", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "auth-methods", Permissions: []string{"images-view"}})
		for name, r := range map[string]*kwtest.Response{
			"Basic":                  s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret)),
			"form with client_id":    s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {k.ID}, "client_secret": {k.Secret}}),
			"key alone in the form":  s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_secret": {k.Secret}}),
			"Basic with empty id":    s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic("", k.Secret)),
			"scope narrowed in form": s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_secret": {k.Secret}, "scope": {"images-view"}}),
		} {
			if r.Status != http.StatusOK {
				t.Errorf("%s: %s", name, r)
				continue
			}
			tok := kwtest.RequireToken(t, r)
			_, claims := kwtest.DecodeJWT(t, tok.AccessToken)
			if claims["client_id"] != k.ID || claims["sub"] != "key:"+k.ID {
				t.Errorf("%s: client_id %v sub %v", name, claims["client_id"], claims["sub"])
			}
		}
	})

	t.Run("a refresh token works once; its reuse revokes the whole session and is audited", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "rotation", Permissions: []string{"images-view"}})
		first := s.Exchange(t, k.Secret)
		second := kwtest.RequireToken(t, s.Refresh(t, first.RefreshToken))
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if second.ExpiresIn != 7200 || second.RefreshExpiresIn != 10800 || second.Scope != "images-view" {
			t.Errorf("refreshed: expires_in %d refresh_expires_in %d scope %q", second.ExpiresIn, second.RefreshExpiresIn, second.Scope)
		}
		_, c1 := kwtest.DecodeJWT(t, first.AccessToken)
		_, c2 := kwtest.DecodeJWT(t, second.AccessToken)
		if c1["sid"] != c2["sid"] || c1["jti"] == c2["jti"] {
			t.Errorf("refresh must keep the session and mint a new jti: sid %v/%v jti %v/%v", c1["sid"], c2["sid"], c1["jti"], c2["jti"])
		}
		kwtest.RequireActive(t, s.Introspect(t, second.AccessToken, kwtest.Bearer(admin)))

		kwtest.RequireOAuthError(t, s.Refresh(t, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireOAuthError(t, s.Refresh(t, second.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, second.AccessToken, kwtest.Bearer(admin)))
		kwtest.RequireInactive(t, s.Introspect(t, first.AccessToken, kwtest.Bearer(admin)))
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", second.AccessToken, nil), http.StatusUnauthorized)

		sid := c1["sid"].(string)
		found := false
		for _, e := range s.Audit(t, admin, "default") {
			if e.Action == keyward.AuditRefreshReused && strings.Contains(e.Target, sid) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s event for session %s in the project's audit log", keyward.AuditRefreshReused, sid)
		}
		// The key itself is fine: a new exchange starts a new session.
		s.Exchange(t, k.Secret)
	})

	t.Run("a refresh's scope parameter narrows the new access token, or is invalid_scope without spending anything", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "refresh-scope", Permissions: []string{"images-view", "dns-view"}})
		tok := s.Exchange(t, k.Secret)
		refresh := func(refreshToken, scope string) *kwtest.Response {
			return s.TokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}, "scope": {scope}})
		}
		kwtest.RequireOAuthError(t, refresh(tok.RefreshToken, "billing-manage"), http.StatusBadRequest, "invalid_scope")
		narrowed := kwtest.RequireToken(t, refresh(tok.RefreshToken, "dns-view"))
		if _, c := kwtest.DecodeJWT(t, narrowed.AccessToken); narrowed.Scope != "dns-view" || c["scope"] != "dns-view" {
			t.Errorf("refresh with scope=dns-view: scope %q, claim %v", narrowed.Scope, c["scope"])
		}
	})

	t.Run("a refresh with client authentication must name the session's key", func(t *testing.T) {
		t.Parallel()
		mine := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "refresh-owner", Permissions: []string{"images-view"}})
		theirs := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "refresh-stranger", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, mine.Secret)
		kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken, kwtest.Basic(theirs.ID, theirs.Secret)), http.StatusBadRequest, "invalid_grant")
		// Nothing was spent by the refused attempt.
		kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken, kwtest.Basic(mine.ID, mine.Secret)))
	})

	t.Run("of 50 concurrent refreshes with one token exactly one succeeds", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "race", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, k.Secret)
		body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()
		const n = 50
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make([]*kwtest.Response, n)
			errs    = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				results[i], errs[i] = s.Send(http.MethodPost, "/oauth/token", strings.NewReader(body),
					kwtest.Header("Content-Type", "application/x-www-form-urlencoded"))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("request %d: %v", i, errs[i])
			}
			switch {
			case r.Status == http.StatusOK:
				ok++
			default:
				kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1", ok, n)
		}
	})

	t.Run("deleting a key ends its exchange, its refresh tokens and its access tokens at once", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "doomed", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, k.Secret)
		kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		s.DeleteKey(t, admin, "default", k.ID)

		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 after Basic without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
		}
		kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil), http.StatusUnauthorized)
		// Deleting it again is 404: it is gone, not hidden.
		kwtest.RequireProblem(t, s.API(t, http.MethodDelete, "/v1/projects/default/api-keys/"+k.ID, admin, nil), http.StatusNotFound)
	})

	t.Run("a deleted key no longer authenticates to introspection, with Basic or in the form", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deleted-introspector", Permissions: []string{"images-view"}})
		target := s.Exchange(t, s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "introspected-later", Permissions: []string{"images-view"}}).Secret)
		form := url.Values{"token": {target.AccessToken}, "client_id": {k.ID}, "client_secret": {k.Secret}}.Encode()
		// Used once before deletion, as a resource server would.
		kwtest.RequireActive(t, s.Introspect(t, target.AccessToken, kwtest.Basic(k.ID, k.Secret)))
		kwtest.RequireActive(t, s.PostForm(t, "/oauth/introspect", form))
		s.DeleteKey(t, admin, "default", k.ID)

		r := s.Introspect(t, target.AccessToken, kwtest.Basic(k.ID, k.Secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("401 after Basic without a Basic challenge: %q", r.Header.Get("WWW-Authenticate"))
		}
		kwtest.RequireOAuthError(t, s.PostForm(t, "/oauth/introspect", form), http.StatusUnauthorized, "invalid_client")
	})

	t.Run("introspection applies every check /v1 applies to the token's session", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "moved-session", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, k.Secret)
		kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		// A session that no longer matches its key's project (only a damaged or tampered
		// database has one) authenticates nothing.
		db, err := sql.Open("sqlite", strings.TrimPrefix(s.Config.DB, "sqlite:")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		if _, err := db.Exec("UPDATE sessions SET project_id = $1 WHERE id = $2", other.ID, c["sid"]); err != nil {
			t.Fatal(err)
		}
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", tok.AccessToken, nil), http.StatusUnauthorized)
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
	})

	t.Run("the password grant without project carries no permissions; with project it carries the membership", func(t *testing.T) {
		t.Parallel()
		plain := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "")
		_, c := kwtest.DecodeJWT(t, plain.AccessToken)
		if plain.Scope != "" || (c["scope"] != nil && c["scope"] != "") {
			t.Errorf("user token without project: scope %q / claim %v, want empty", plain.Scope, c["scope"])
		}
		if _, ok := c["project"]; ok {
			t.Errorf("user token without project has a project claim: %v", c["project"])
		}
		if sub, _ := c["sub"].(string); !strings.HasPrefix(sub, "user:"+keyward.PrefixUser) {
			t.Errorf("sub: want user:usr_…, got %v", c["sub"])
		}
		if plain.ExpiresIn != 7200 || plain.RefreshExpiresIn != 10800 {
			t.Errorf("user token lifetimes %d/%d", plain.ExpiresIn, plain.RefreshExpiresIn)
		}

		all := strings.Join(keyward.DefaultCatalog().Names(), " ")
		for _, ref := range []string{"default", def.ID} {
			narrowed := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, ref)
			_, c := kwtest.DecodeJWT(t, narrowed.AccessToken)
			if narrowed.Scope != all || c["scope"] != all {
				t.Errorf("project=%s: scope %q, want every permission of the membership %q", ref, narrowed.Scope, all)
			}
			if c["project"] != def.ID {
				t.Errorf("project=%s: project claim %v, want %s", ref, c["project"], def.ID)
			}
		}
		r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail},
			"password": {kwtest.AdminPassword}, "project": {"default"}, "scope": {"images-view dns-view"}})
		if tok := kwtest.RequireToken(t, r); tok.Scope != "images-view dns-view" {
			t.Errorf("narrowed scope: %q", tok.Scope)
		}
		r = s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail},
			"password": {kwtest.AdminPassword}, "project": {"no-such-project"}})
		if r.Status != http.StatusBadRequest || strings.Contains(string(r.Body), "access_token") {
			t.Errorf("unknown project: want 400 without a token, got %s", r)
		}
		// A project the user is not a member of reads exactly as one that does not exist.
		s.CreateUser(t, admin, "outsider@example.com", "outsider password 12345")
		outside := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {"outsider@example.com"},
			"password": {"outsider password 12345"}, "project": {"default"}})
		if outside.Status != r.Status || string(outside.Body) != string(r.Body) {
			t.Errorf("project of others: got %s, want the unknown project's %s", outside, r)
		}
		// The email is case-insensitive.
		s.Login(t, strings.ToUpper(kwtest.AdminEmail), kwtest.AdminPassword, "")
	})

	t.Run("introspection needs a caller who may see the token's project", func(t *testing.T) {
		t.Parallel()
		mine := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "introspected", Permissions: []string{"images-view"}, IPs: []string{"127.0.0.0/8"}})
		peer := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "introspector", Permissions: []string{"images-view"}})
		foreign := s.CreateKey(t, admin, "other", kwtest.KeyRequest{Name: "foreign", Permissions: []string{"images-view"}})
		tok := s.Exchange(t, mine.Secret)
		foreignTok := s.Exchange(t, foreign.Secret)

		r := s.Introspect(t, tok.AccessToken)
		if r.Status != http.StatusUnauthorized || strings.Contains(string(r.Body), "active") {
			t.Errorf("unauthenticated introspection: want 401, got %s", r)
		}
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Basic(foreign.ID, foreign.Secret)))
		kwtest.RequireInactive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(foreignTok.AccessToken)))
		r = s.Introspect(t, tok.AccessToken, kwtest.Basic(peer.ID, kwtest.WrongSecret(t, peer.Secret)))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")

		kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Basic(peer.ID, peer.Secret)))
		in := kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, kwtest.Bearer(admin)))
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		if in.Sub != "key:"+mine.ID || in.ClientID != mine.ID || in.Scope != "images-view" || in.Project != def.ID ||
			in.Sid != c["sid"] || in.Jti != c["jti"] || in.Iss != s.Config.Issuer ||
			in.Exp != int64(c["exp"].(float64)) || in.Iat != int64(c["iat"].(float64)) || !slices.Equal(in.IPs, []string{"127.0.0.0/8"}) {
			t.Errorf("introspection of an active token: got %+v, token claims %v", in, c)
		}
		kwtest.RequireInactive(t, s.Introspect(t, "not-a-token", kwtest.Bearer(admin)))
		kwtest.RequireInactive(t, s.Introspect(t, tok.RefreshToken, kwtest.Bearer(admin)))

		// A key restricted to networks introspects only from them, like every other use of it.
		fenced := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "fenced-introspector", Permissions: []string{"images-view"}, IPs: []string{"203.0.113.0/24"}})
		fencedTok := s.Exchange(t, fenced.Secret, kwtest.From("203.0.113.9"))
		for name, auth := range map[string]kwtest.RequestOption{"Basic": kwtest.Basic(fenced.ID, fenced.Secret), "Bearer": kwtest.Bearer(fencedTok.AccessToken)} {
			kwtest.RequireOAuthError(t, s.Introspect(t, tok.AccessToken, auth, kwtest.From("198.51.100.1")), http.StatusBadRequest, "unauthorized_client")
			if in := kwtest.RequireActive(t, s.Introspect(t, tok.AccessToken, auth, kwtest.From("203.0.113.9"))); in.Sub != "key:"+mine.ID {
				t.Errorf("%s from an allowed address: %+v", name, in)
			}
		}
	})

	t.Run("revoking a refresh token or an access token ends the session (RFC 7009)", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "revoked", Permissions: []string{"images-view"}})
		a := s.Exchange(t, k.Secret)
		b := s.Exchange(t, k.Secret)
		r := s.Revoke(t, a.RefreshToken)
		if r.Status != http.StatusOK {
			t.Fatalf("revoke a refresh token: %s", r)
		}
		kwtest.RequireOAuthError(t, s.Refresh(t, a.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, a.AccessToken, kwtest.Bearer(admin)))

		if r := s.Revoke(t, b.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("revoke an access token: %s", r)
		}
		kwtest.RequireOAuthError(t, s.Refresh(t, b.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, b.AccessToken, kwtest.Bearer(admin)))

		// Unknown tokens get 200 too (RFC 7009 §2.2), and a second revocation is harmless.
		for _, tok := range []string{"unknown", a.RefreshToken} {
			if r := s.Revoke(t, tok); r.Status != http.StatusOK {
				t.Errorf("revoke %q: %s", tok, r)
			}
		}
		// Other sessions of the key live on.
		s.Exchange(t, k.Secret)
	})

	t.Run("metadata and JWKS describe the server", func(t *testing.T) {
		t.Parallel()
		md := s.Metadata(t)
		base := s.Config.Issuer
		if md.Issuer != base || md.TokenEndpoint != base+"/oauth/token" || md.JWKSURI != base+"/.well-known/jwks.json" ||
			md.RevocationEndpoint != base+"/oauth/revoke" || md.IntrospectionEndpoint != base+"/oauth/introspect" {
			t.Errorf("metadata endpoints: %+v", md)
		}
		for _, g := range []string{"client_credentials", "refresh_token", "password"} {
			if !slices.Contains(md.GrantTypesSupported, g) {
				t.Errorf("grant_types_supported lacks %s: %v", g, md.GrantTypesSupported)
			}
		}
		for _, m := range []string{"client_secret_basic", "client_secret_post"} {
			if !slices.Contains(md.TokenEndpointAuthMethodsSupported, m) {
				t.Errorf("token_endpoint_auth_methods_supported lacks %s: %v", m, md.TokenEndpointAuthMethodsSupported)
			}
		}
		if !slices.Equal(md.ScopesSupported, keyward.DefaultCatalog().Names()) {
			t.Errorf("scopes_supported: %v", md.ScopesSupported)
		}

		r := s.Do(t, http.MethodGet, "/.well-known/jwks.json", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("JWKS: %s", r)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jwk-set+json") && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("JWKS Content-Type %q", ct)
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		r.JSON(t, &set)
		if len(set.Keys) == 0 {
			t.Fatalf("JWKS without keys: %s", r)
		}
		kids := map[any]bool{}
		for _, k := range set.Keys {
			kids[k["kid"]] = true
			if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["kid"] == "" || k["x"] == nil || k["y"] == nil {
				t.Errorf("JWKS key is not a complete ES256 public key: %v", k)
			}
			if use, ok := k["use"]; ok && use != "sig" {
				t.Errorf("JWKS key use %v", use)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS publishes private member %q", private)
				}
			}
		}
		h, _ := kwtest.DecodeJWT(t, admin)
		if !kids[h["kid"]] || h["alg"] != "ES256" {
			t.Errorf("the admin's token is signed with kid %v alg %v, JWKS has %v", h["kid"], h["alg"], kids)
		}
	})

	t.Run("health, readiness and metrics", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := s.Do(t, http.MethodGet, path, nil); r.Status != http.StatusOK {
				t.Errorf("%s: %s", path, r)
			}
		}
		s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_secret": {"kw_nope"}})
		r := s.Do(t, http.MethodGet, "/metrics", nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "keyward_token_requests_total{") {
			t.Errorf("/metrics lacks keyward_token_requests_total: %s", r)
		}
		// The group commit's counters: by now the store has written (keys, sessions), in at
		// least one transaction and never in more transactions than operations.
		var ops, txs float64
		for line := range strings.Lines(string(r.Body)) {
			if v, ok := strings.CutPrefix(line, "keyward_store_write_operations_total "); ok {
				fmt.Sscan(v, &ops)
			} else if v, ok := strings.CutPrefix(line, "keyward_store_write_transactions_total "); ok {
				fmt.Sscan(v, &txs)
			}
		}
		if txs < 1 || ops < txs {
			t.Errorf("/metrics: %v write operations in %v transactions", ops, txs)
		}
	})

	t.Run("another project's key and its tokens stay within their project", func(t *testing.T) {
		t.Parallel()
		k := s.CreateKey(t, admin, "other", kwtest.KeyRequest{Name: "other-key", Permissions: []string{"api-keys-view", "api-keys-manage"}})
		tok := s.Exchange(t, k.Secret)
		_, c := kwtest.DecodeJWT(t, tok.AccessToken)
		if c["project"] != other.ID {
			t.Errorf("project claim %v, want %s", c["project"], other.ID)
		}
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/projects/default/api-keys", tok.AccessToken, nil), http.StatusNotFound)
		if r := s.API(t, http.MethodGet, "/v1/projects/other/api-keys", tok.AccessToken, nil); r.Status != http.StatusOK {
			t.Errorf("a key's own project: %s", r)
		}
	})
}

// Secrets never reach the log: after a busy flow, none of the key, refresh-token or password
// values the server handed out or received appears in what it wrote.
func TestSecretsAreNotLogged(t *testing.T) {
	s := kwtest.Start(t, unthrottled, kwtest.WithConfig(func(c *server.Config) { c.LogLevel = "debug" }))
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "logged", Permissions: []string{"images-view"}})
	tok := s.Exchange(t, k.Secret)
	next := kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken))
	s.Refresh(t, tok.RefreshToken) // reuse, audited and logged
	wrong := kwtest.WrongSecret(t, k.Secret)
	s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, wrong))
	s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {"guess-Zx81-wrong"}})
	s.DeleteKey(t, admin, "default", k.ID)
	s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(k.ID, k.Secret))

	logs := s.Logs()
	if len(logs) == 0 {
		t.Fatal("the server logged nothing at debug level; this test proves nothing")
	}
	for what, secret := range map[string]string{
		"key": k.Secret, "guessed key": wrong, "refresh token": tok.RefreshToken, "next refresh token": next.RefreshToken,
		"access token": tok.AccessToken, "admin password": kwtest.AdminPassword, "wrong password": "guess-Zx81-wrong",
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
}

// TestSigningAlgorithms: with --signing-alg EdDSA or RS256 the token still verifies with another
// JOSE library from the JWKS alone, and the JWKS and metadata say which algorithm signs.
func TestSigningAlgorithms(t *testing.T) {
	for _, tc := range []struct{ alg, kty string }{{"EdDSA", "OKP"}, {"RS256", "RSA"}} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			s := kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) { c.SigningAlg = tc.alg }))
			admin := s.AdminToken(t)
			k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "alg", Permissions: []string{"images-view"}})
			tok := s.Exchange(t, k.Secret)
			md := s.Metadata(t)
			ctx := context.Background()
			set, err := jwk.Fetch(ctx, md.JWKSURI, jwk.WithHTTPClient(s.HTTP.Client()))
			if err != nil {
				t.Fatalf("jwk.Fetch: %v", err)
			}
			if _, err := jwt.Parse([]byte(tok.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer(md.Issuer), jwt.WithAudience(s.Config.Issuer)); err != nil {
				t.Fatalf("jwx rejects the %s token: %v", tc.alg, err)
			}
			h, _ := kwtest.DecodeJWT(t, tok.AccessToken)
			if h["alg"] != tc.alg || h["typ"] != "at+jwt" {
				t.Errorf("header %v", h)
			}
			var jwks struct {
				Keys []map[string]any `json:"keys"`
			}
			s.Do(t, http.MethodGet, "/.well-known/jwks.json", nil).JSON(t, &jwks)
			for _, key := range jwks.Keys {
				if key["kty"] != tc.kty || key["alg"] != tc.alg {
					t.Errorf("JWKS key %v, want kty %s alg %s", key, tc.kty, tc.alg)
				}
				if _, ok := key["d"]; ok {
					t.Errorf("JWKS publishes the private exponent or scalar")
				}
			}
		})
	}
}
