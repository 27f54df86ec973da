package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// TestTokenErrors walks the error table of SPEC §4: every row, with its status and code.
func TestTokenErrors(t *testing.T) {
	s := kwtest.Start(t, unthrottled)
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "good", Permissions: []string{"containers-view", "images-view"}})
	other := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "another", Permissions: []string{"images-view"}})
	fenced := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "fenced", Permissions: []string{"images-view"},
		IPs: []string{"203.0.113.0/24", "2001:db8:1::/48"}})
	deleted := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "deleted", Permissions: []string{"images-view"}})
	s.DeleteKey(t, admin, "default", deleted.ID)

	spent := s.Exchange(t, k.Secret)
	kwtest.RequireToken(t, s.Refresh(t, spent.RefreshToken))
	revoked := s.Exchange(t, k.Secret)
	if r := s.Revoke(t, revoked.RefreshToken); r.Status != http.StatusOK {
		t.Fatalf("revoke: %s", r)
	}
	live := s.Exchange(t, k.Secret)

	badChecksum := k.Secret[:len(k.Secret)-1] + "A"
	if strings.HasSuffix(k.Secret, "A") {
		badChecksum = k.Secret[:len(k.Secret)-1] + "B"
	}

	const form = "application/x-www-form-urlencoded"
	cc := "grant_type=client_credentials"
	type row struct {
		name   string
		path   string // default /oauth/token
		ctype  string // default form
		body   string
		opts   []kwtest.RequestOption
		status int
		code   string
		basic  bool // sent with HTTP Basic: a 401 must carry WWW-Authenticate: Basic
	}
	rows := []row{
		// 400 invalid_request: malformed request, missing or duplicated parameter, wrong content type.
		{name: "malformed percent-encoding", body: cc + "&client_secret=%zz", status: 400, code: "invalid_request"},
		{name: "semicolon as separator", body: cc + ";client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "empty body", body: "", status: 400, code: "invalid_request"},
		{name: "missing grant_type", body: "client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "empty grant_type", body: "grant_type=&client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "missing refresh_token", body: "grant_type=refresh_token", status: 400, code: "invalid_request"},
		{name: "missing password", body: "grant_type=password&username=" + url.QueryEscape(kwtest.AdminEmail), status: 400, code: "invalid_request"},
		{name: "missing username", body: "grant_type=password&password=x", status: 400, code: "invalid_request"},
		{name: "duplicated grant_type", body: cc + "&" + cc + "&client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "duplicated client_secret", body: cc + "&client_secret=" + k.Secret + "&client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "duplicated scope", body: cc + "&client_secret=" + k.Secret + "&scope=images-view&scope=images-view", status: 400, code: "invalid_request"},
		{name: "duplicated refresh_token", body: "grant_type=refresh_token&refresh_token=" + live.RefreshToken + "&refresh_token=" + live.RefreshToken, status: 400, code: "invalid_request"},
		{name: "JSON content type", ctype: "application/json", body: `{"grant_type":"client_credentials","client_secret":"` + k.Secret + `"}`, status: 400, code: "invalid_request"},
		{name: "no content type", ctype: "-", body: cc + "&client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "text/plain content type", ctype: "text/plain", body: cc + "&client_secret=" + k.Secret, status: 400, code: "invalid_request"},
		{name: "multipart content type", ctype: "multipart/form-data; boundary=x", body: "--x--", status: 400, code: "invalid_request"},
		{name: "key in the query string", path: "/oauth/token?client_secret=" + k.Secret, body: cc, status: 400, code: "invalid_request"},
		{name: "password in the query string", path: "/oauth/token?username=a%40b.c&password=x", body: "grant_type=password", status: 400, code: "invalid_request"},
		{name: "refresh token in the query string", path: "/oauth/token?refresh_token=" + live.RefreshToken, body: "grant_type=refresh_token", status: 400, code: "invalid_request"},
		{name: "Basic and client_secret together", body: cc + "&client_secret=" + k.Secret, opts: []kwtest.RequestOption{kwtest.Basic(k.ID, k.Secret)}, status: 400, code: "invalid_request"},
		{name: "Basic and another client_id in the body", body: cc + "&client_id=" + other.ID, opts: []kwtest.RequestOption{kwtest.Basic(k.ID, k.Secret)}, status: 400, code: "invalid_request"},
		{name: "two Authorization headers", body: cc, opts: []kwtest.RequestOption{kwtest.RawBasic(k.ID + ":" + k.Secret), kwtest.RawBasic(k.ID + ":" + k.Secret)}, status: 400, code: "invalid_request"},

		// 401 invalid_client: unknown, deleted, expired or malformed key; bad client authentication.
		{name: "no client authentication", body: cc, status: 401, code: "invalid_client"},
		{name: "client_id without a secret", body: cc + "&client_id=" + k.ID, status: 401, code: "invalid_client"},
		{name: "unknown key, Basic", body: cc, opts: []kwtest.RequestOption{kwtest.Basic("", kwtest.UnknownKey(t))}, status: 401, code: "invalid_client", basic: true},
		{name: "unknown key, form", body: cc + "&client_secret=" + kwtest.UnknownKey(t), status: 401, code: "invalid_client"},
		{name: "deleted key, Basic", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(deleted.ID, deleted.Secret)}, status: 401, code: "invalid_client", basic: true},
		{name: "deleted key, form", body: cc + "&client_secret=" + deleted.Secret, status: 401, code: "invalid_client"},
		{name: "malformed key, Basic", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(k.ID, "kw_short")}, status: 401, code: "invalid_client", basic: true},
		{name: "malformed key, form", body: cc + "&client_secret=hunter2", status: 401, code: "invalid_client"},
		{name: "key with a wrong checksum", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(k.ID, badChecksum)}, status: 401, code: "invalid_client", basic: true},
		{name: "right key id, wrong secret", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(k.ID, kwtest.WrongSecret(t, k.Secret))}, status: 401, code: "invalid_client", basic: true},
		{name: "client_id of another key", body: cc + "&client_id=" + other.ID + "&client_secret=" + k.Secret, status: 401, code: "invalid_client"},
		{name: "Basic id of another key", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(other.ID, k.Secret)}, status: 401, code: "invalid_client", basic: true},
		{name: "Basic not base64", body: cc, opts: []kwtest.RequestOption{kwtest.Header("Authorization", "Basic !!!")}, status: 401, code: "invalid_client", basic: true},
		{name: "Basic without colon", body: cc, opts: []kwtest.RequestOption{kwtest.RawBasic(k.Secret)}, status: 401, code: "invalid_client", basic: true},
		{name: "Bearer on the token endpoint", body: cc, opts: []kwtest.RequestOption{kwtest.Bearer(live.AccessToken)}, status: 401, code: "invalid_client"},

		// 400 invalid_grant: wrong password, unknown user, bad/expired/reused/revoked refresh token.
		{name: "wrong password", body: url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {"not-the-password-1"}}.Encode(), status: 400, code: "invalid_grant"},
		{name: "unknown user", body: url.Values{"grant_type": {"password"}, "username": {"nobody@keyward.test"}, "password": {kwtest.AdminPassword}}.Encode(), status: 400, code: "invalid_grant"},
		{name: "malformed refresh token", body: "grant_type=refresh_token&refresh_token=garbage", status: 400, code: "invalid_grant"},
		{name: "unknown refresh token", body: "grant_type=refresh_token&refresh_token=" + strings.Repeat("A", len(live.RefreshToken)), status: 400, code: "invalid_grant"},
		{name: "access token as refresh token", body: "grant_type=refresh_token&refresh_token=" + live.AccessToken, status: 400, code: "invalid_grant"},
		{name: "revoked refresh token", body: "grant_type=refresh_token&refresh_token=" + revoked.RefreshToken, status: 400, code: "invalid_grant"},
		{name: "reused refresh token", body: "grant_type=refresh_token&refresh_token=" + spent.RefreshToken, status: 400, code: "invalid_grant"},
		{name: "refresh token with another key's credentials", body: "grant_type=refresh_token&refresh_token=" + live.RefreshToken,
			opts: []kwtest.RequestOption{kwtest.Basic(other.ID, other.Secret)}, status: 400, code: "invalid_grant"},

		// 400 unauthorized_client: a valid key used from outside its networks.
		{name: "key outside its networks", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(fenced.ID, fenced.Secret), kwtest.From("198.51.100.7")}, status: 400, code: "unauthorized_client"},
		{name: "key outside its networks, IPv6", body: cc, opts: []kwtest.RequestOption{kwtest.Basic(fenced.ID, fenced.Secret), kwtest.From("2001:db8:2::1")}, status: 400, code: "unauthorized_client"},
		{name: "key from loopback, outside its networks", body: cc + "&client_secret=" + fenced.Secret, status: 400, code: "unauthorized_client"},

		// 400 unsupported_grant_type.
		{name: "authorization_code grant", body: "grant_type=authorization_code&code=x&client_secret=" + k.Secret, status: 400, code: "unsupported_grant_type"},
		{name: "implicit-style grant", body: "grant_type=token", status: 400, code: "unsupported_grant_type"},
		{name: "device grant type misspelled", body: "grant_type=" + url.QueryEscape("urn:ietf:params:oauth:grant-type:device-code") + "&device_code=x", status: 400, code: "unsupported_grant_type"},
		// The JWT bearer grant is supported (workload identity federation): a bad assertion is
		// invalid_grant.
		{name: "JWT bearer grant, not a JWT", body: "grant_type=" + url.QueryEscape("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=x", status: 400, code: "invalid_grant"},
		{name: "grant type in another case", body: "grant_type=CLIENT_CREDENTIALS&client_secret=" + k.Secret, status: 400, code: "unsupported_grant_type"},

		// 400 invalid_scope: more than the credential holds.
		{name: "scope beyond the key", body: cc + "&client_secret=" + k.Secret + "&scope=containers-manage", status: 400, code: "invalid_scope"},
		{name: "scope partly beyond the key", body: cc + "&client_secret=" + k.Secret + "&scope=images-view+billing-manage", status: 400, code: "invalid_scope"},
		{name: "scope outside the catalog", body: cc + "&client_secret=" + k.Secret + "&scope=root", status: 400, code: "invalid_scope"},
		{name: "user scope without project", body: url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {kwtest.AdminPassword}, "scope": {"images-view"}}.Encode(), status: 400, code: "invalid_scope"},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, ctype := tc.path, tc.ctype
			if path == "" {
				path = "/oauth/token"
			}
			if ctype == "" {
				ctype = form
			}
			opts := tc.opts
			if ctype != "-" {
				opts = append([]kwtest.RequestOption{kwtest.Header("Content-Type", ctype)}, opts...)
			}
			r := s.Do(t, http.MethodPost, path, strings.NewReader(tc.body), opts...)
			kwtest.RequireOAuthError(t, r, tc.status, tc.code)
			if tc.basic && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 to a Basic request without WWW-Authenticate: Basic, got %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// The rows above changed nothing they should not have: the good key and its live session work.
	t.Run("controls", func(t *testing.T) {
		t.Parallel()
		s.Exchange(t, fenced.Secret, kwtest.From("203.0.113.9"))
		s.Exchange(t, fenced.Secret, kwtest.From("::ffff:203.0.113.10"))
		s.Exchange(t, fenced.Secret, kwtest.From("2001:db8:1::7"))
		s.Exchange(t, k.Secret)
	})
}

// TestExpiry moves the server's clock: refresh tokens expire 3 h after issue, a key's expiry
// ends its exchanges and bounds its sessions, and a session ends at its maximum age however often
// it is refreshed.
func TestExpiry(t *testing.T) {
	s := kwtest.Start(t, unthrottled, kwtest.WithConfig(func(c *server.Config) { c.SessionMaxAge = 4 * time.Hour }))
	admin := s.AdminToken(t)
	t0 := s.Clock.Now()
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "long-lived", Permissions: []string{"images-view"}})
	short := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "short-lived", Permissions: []string{"images-view"},
		ExpiresAt: new(t0.Add(time.Hour).Truncate(time.Second))})
	a, b := s.Exchange(t, k.Secret), s.Exchange(t, k.Secret)
	e := s.Exchange(t, short.Secret)
	if e.ExpiresIn != 3600 || e.RefreshExpiresIn != 3600 {
		t.Errorf("a key expiring in 1h: expires_in %d refresh_expires_in %d, want both bounded to 3600", e.ExpiresIn, e.RefreshExpiresIn)
	}
	if r := s.CreateKeyResponse(t, admin, "default", kwtest.KeyRequest{Name: "past", Permissions: []string{"images-view"},
		ExpiresAt: new(t0.Add(-time.Minute).Truncate(time.Second))}); r.Status != http.StatusBadRequest {
		t.Errorf("a key expiring in the past: want 400, got %s", r)
	}

	s.Clock.Advance(time.Hour + time.Second) // 1:00:01
	t.Run("an expired key neither exchanges nor refreshes", func(t *testing.T) {
		kwtest.RequireActive(t, s.Introspect(t, a.AccessToken, kwtest.Bearer(admin)))
		r := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(short.ID, short.Secret))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		kwtest.RequireOAuthError(t, s.Refresh(t, e.RefreshToken), http.StatusBadRequest, "invalid_grant")
		kwtest.RequireInactive(t, s.Introspect(t, e.AccessToken, kwtest.Bearer(admin)))
	})

	s.Clock.Advance(time.Hour + 58*time.Minute + 59*time.Second) // 2:59:00
	var a2 *kwtest.Token
	t.Run("an expired access token is refused while its session lives on", func(t *testing.T) {
		fresh := s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "").AccessToken
		kwtest.RequireInactive(t, s.Introspect(t, a.AccessToken, kwtest.Bearer(fresh)))
		kwtest.RequireProblem(t, s.API(t, http.MethodGet, "/v1/me", a.AccessToken, nil), http.StatusUnauthorized)
	})
	t.Run("a refresh token is good until 3h after issue", func(t *testing.T) {
		a2 = kwtest.RequireToken(t, s.Refresh(t, a.RefreshToken))
		if a2.ExpiresIn != 3660 || a2.RefreshExpiresIn != 3660 {
			t.Errorf("refreshed 61 min before the session's 4h maximum: expires_in %d refresh_expires_in %d, want 3660 and 3660", a2.ExpiresIn, a2.RefreshExpiresIn)
		}
	})
	if a2 == nil {
		t.FailNow()
	}

	s.Clock.Advance(time.Minute + time.Second) // 3:00:01
	t.Run("a refresh token expires 3h after issue", func(t *testing.T) {
		kwtest.RequireOAuthError(t, s.Refresh(t, b.RefreshToken), http.StatusBadRequest, "invalid_grant")
	})

	s.Clock.Advance(58*time.Minute + 59*time.Second) // 3:59:00
	var a3 *kwtest.Token
	t.Run("refreshing near the session's maximum age gives tokens that end with it", func(t *testing.T) {
		a3 = kwtest.RequireToken(t, s.Refresh(t, a2.RefreshToken))
		if a3.ExpiresIn != 60 || a3.RefreshExpiresIn != 60 {
			t.Errorf("expires_in %d refresh_expires_in %d, want 60 and 60", a3.ExpiresIn, a3.RefreshExpiresIn)
		}
		_, c := kwtest.DecodeJWT(t, a3.AccessToken)
		if exp := int64(c["exp"].(float64)); exp != t0.Add(4*time.Hour).Unix() {
			t.Errorf("exp %d, want the session's end %d", exp, t0.Add(4*time.Hour).Unix())
		}
	})
	if a3 == nil {
		t.FailNow()
	}

	s.Clock.Advance(time.Minute + time.Second) // 4:00:01
	t.Run("a session ends at its maximum age however often it was refreshed", func(t *testing.T) {
		kwtest.RequireOAuthError(t, s.Refresh(t, a3.RefreshToken), http.StatusBadRequest, "invalid_grant")
		// The key itself still works: a new exchange starts a new session.
		s.Exchange(t, k.Secret)
	})
}

// TestThrottling: more than about ten failures a minute from one address get 429 with
// Retry-After, while the key's owner at another address is not locked out.
func TestThrottling(t *testing.T) {
	s := kwtest.Start(t) // the product's default limit
	admin := s.AdminToken(t)
	k := s.CreateKey(t, admin, "default", kwtest.KeyRequest{Name: "targeted", Permissions: []string{"images-view"}})
	const attacker, owner = "198.51.100.66", "203.0.113.5"
	guess := url.Values{"grant_type": {"client_credentials"}}

	throttledAt := 0
	var last *kwtest.Response
	for i := 1; i <= 30; i++ {
		last = s.TokenRequest(t, guess, kwtest.Basic(k.ID, kwtest.WrongSecret(t, k.Secret)), kwtest.From(attacker))
		if last.Status == http.StatusTooManyRequests {
			throttledAt = i
			break
		}
		kwtest.RequireOAuthError(t, last, http.StatusUnauthorized, "invalid_client")
	}
	if throttledAt == 0 {
		t.Fatalf("30 failed exchanges from one address were never throttled")
	}
	if throttledAt < 6 || throttledAt > 16 {
		t.Errorf("throttled after %d failures, want about 10", throttledAt-1)
	}
	requireThrottled(t, last)

	t.Run("the key's owner at another address still exchanges", func(t *testing.T) {
		s.Exchange(t, k.Secret, kwtest.From(owner))
	})
	t.Run("the throttled address stays throttled, whatever it sends", func(t *testing.T) {
		requireThrottled(t, s.TokenRequest(t, guess, kwtest.Basic(k.ID, kwtest.WrongSecret(t, k.Secret)), kwtest.From(attacker)))
		requireThrottled(t, s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {"x@keyward.test"}, "password": {"y-long-enough"}}, kwtest.From(attacker)))
	})
	t.Run("guessing one user's password from many addresses is throttled per username", func(t *testing.T) {
		victim := url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {"wrong-password-guess"}}
		for i := 1; i <= 30; i++ {
			r := s.TokenRequest(t, victim, kwtest.From("192.0.2."+strconv.Itoa(i)))
			if r.Status == http.StatusTooManyRequests {
				requireThrottled(t, r)
				return
			}
			kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
		}
		t.Fatal("30 wrong passwords for one user from 30 addresses were never throttled")
	})
	t.Run("guessing refresh tokens from one address is throttled", func(t *testing.T) {
		for i := 1; i <= 30; i++ {
			r := s.Refresh(t, "kwr_guess"+strconv.Itoa(i), kwtest.From("198.51.100.99"))
			if r.Status == http.StatusTooManyRequests {
				requireThrottled(t, r)
				return
			}
			kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
		}
		t.Fatal("30 bad refresh tokens from one address were never throttled")
	})
	t.Run("throttling ends as time passes", func(t *testing.T) {
		s.Clock.Advance(2 * time.Minute)
		r := s.TokenRequest(t, guess, kwtest.Basic(k.ID, kwtest.WrongSecret(t, k.Secret)), kwtest.From(attacker))
		kwtest.RequireOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
		s.Login(t, kwtest.AdminEmail, kwtest.AdminPassword, "", kwtest.From("192.0.2.200"))
	})
}

func requireThrottled(t *testing.T, r *kwtest.Response) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %s", r)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 120 {
		t.Errorf("Retry-After: want a number of seconds, got %q", r.Header.Get("Retry-After"))
	}
	var e kwtest.OAuthError
	r.JSON(t, &e)
	if e.Error == "" || strings.Contains(string(r.Body), "access_token") {
		t.Errorf("429 body is not an RFC 6749-style error: %s", r)
	}
	kwtest.RequireNoStore(t, r)
}

// TestPasswordGrantDisabled: with --password-grant=false the grant is unsupported and the
// metadata stops advertising it.
func TestPasswordGrantDisabled(t *testing.T) {
	s := kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) { c.PasswordGrant = false }))
	r := s.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {kwtest.AdminEmail}, "password": {kwtest.AdminPassword}})
	kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "unsupported_grant_type")
	for _, g := range s.Metadata(t).GrantTypesSupported {
		if g == "password" {
			t.Error("the metadata still advertises the password grant")
		}
	}
}
