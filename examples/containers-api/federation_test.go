package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/oidctest"
)

// federated is a keyward that admits http loopback issuers, the example API in front of it, and
// a key and a role of its default project for rules to target.
type federated struct {
	*keyward
	api     string
	project string      // the default project's id, as the API's paths take it
	key     *client.Key // containers-view and containers-manage
	role    string      // "deployers": containers-view and containers-manage
}

func startFederated(t *testing.T, args ...string) *federated {
	t.Helper()
	kw := startKeyward(t, append([]string{"--federation-allow-insecure"}, args...)...)
	w := &federated{keyward: kw, api: startAPI(t, kw.URL), project: kw.Default.ID, role: "deployers"}
	w.key = kw.createKey(t, w.project, "deployer", nil, "containers-view", "containers-manage")
	if _, err := kw.Admin.CreateRole(context.Background(), w.project, client.CreateRoleRequest{Name: w.role,
		Description: "Run containers.", Permissions: []string{"containers-view", "containers-manage"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// trust makes the project trust issuer for tokens addressed to this keyward.
func (w *federated) trust(t *testing.T, project, name, issuer string) {
	t.Helper()
	if _, err := w.Admin.CreateFederationIssuer(context.Background(), project, client.CreateFederationIssuerRequest{
		Name: name, Issuer: issuer, Audiences: []string{w.URL}}); err != nil {
		t.Fatalf("trust %s: %v", issuer, err)
	}
}

func (w *federated) rule(t *testing.T, project string, req client.CreateFederationRuleRequest) *client.FederationRule {
	t.Helper()
	r, err := w.Admin.CreateFederationRule(context.Background(), project, req)
	if err != nil {
		t.Fatalf("rule %s: %v", req.Name, err)
	}
	return r
}

// tokenAnswer is the token endpoint's answer to a federated grant, success or error.
type tokenAnswer struct {
	status     int
	retryAfter string
	raw        map[string]any
	client.TokenResponse
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// grantForm is the form of grant (client.GrantTokenExchange or client.GrantJWTBearer) presenting
// subject, with extra parameters.
func grantForm(grant, subject string, extra url.Values) url.Values {
	form := url.Values{"grant_type": {grant}}
	if grant == client.GrantTokenExchange {
		form.Set("subject_token", subject)
		form.Set("subject_token_type", client.TokenTypeJWT)
	} else {
		form.Set("assertion", subject)
	}
	for k, v := range extra {
		form[k] = v
	}
	return form
}

// post sends form to the token endpoint, as any workload could, with no client authentication.
func (w *federated) post(t *testing.T, form url.Values) tokenAnswer {
	t.Helper()
	resp, err := http.PostForm(w.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := tokenAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	var body json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token endpoint: HTTP %d, not JSON: %v", resp.StatusCode, err)
	}
	if json.Unmarshal(body, &a) != nil || json.Unmarshal(body, &a.TokenResponse) != nil || json.Unmarshal(body, &a.raw) != nil {
		t.Fatalf("token endpoint: HTTP %d %s", resp.StatusCode, body)
	}
	return a
}

// exchange trades subject through grant and checks the answer is a federated token's: an
// access token, no refresh token, issued_token_type for a token exchange only.
func (w *federated) exchange(t *testing.T, grant, subject string) tokenAnswer {
	t.Helper()
	a := w.post(t, grantForm(grant, subject, nil))
	if a.status != http.StatusOK || a.AccessToken == "" || a.TokenType != "Bearer" {
		t.Fatalf("%s: HTTP %d %v", grant, a.status, a.raw)
	}
	if _, ok := a.raw["refresh_token"]; ok {
		t.Errorf("%s: a refresh token was issued", grant)
	}
	want := ""
	if grant == client.GrantTokenExchange {
		want = client.TokenTypeAccessToken
	}
	if got, _ := a.raw["issued_token_type"].(string); got != want {
		t.Errorf("%s: issued_token_type %q, want %q", grant, got, want)
	}
	return a
}

// call is the API's answer to token on the project's containers.
func (w *federated) call(t *testing.T, method, token, body string) apiResponse {
	t.Helper()
	return apiCall{method: method, url: containersURL(w.api, w.project), token: token, body: body}.do(t)
}

// federatedRoundTrip runs the issue's journey against an upstream: one rule targets the key and
// one the role; subject tokens for each, through each grant, become access tokens that list and
// create containers at the API and say where they came from; deleting the rules makes the API
// refuse them within a second. mint returns a fresh subject token meeting the named rule
// ("key" or "role") and the sub it carries.
func federatedRoundTrip(t *testing.T, w *federated, issuer string, keyConditions, roleConditions map[string]string,
	mint func(t *testing.T, target, grant string) (token, sub string)) {
	rules := map[string]*client.FederationRule{
		"key": w.rule(t, w.project, client.CreateFederationRuleRequest{Name: "as-key", Issuer: "upstream",
			Conditions: keyConditions, Target: "key:" + w.key.ID}),
		"role": w.rule(t, w.project, client.CreateFederationRuleRequest{Name: "as-role", Issuer: "upstream",
			Conditions: roleConditions, Target: "role:" + w.role, TTL: "5m"}),
	}
	tokens := map[string]string{}
	for _, target := range []string{"key", "role"} {
		for _, grant := range []string{client.GrantTokenExchange, client.GrantJWTBearer} {
			subject, sub := mint(t, target, grant)
			a := w.exchange(t, grant, subject)
			// The role rule's ttl is 5 minutes, the key rule's the default 15: each bounds the
			// token, whatever the subject token's own lifetime.
			ttl := map[string]int64{"key": 900, "role": 300}[target]
			if a.Scope != "containers-view containers-manage" || a.ExpiresIn <= 0 || a.ExpiresIn > ttl {
				t.Errorf("%s via %s: scope %q, expires_in %d, want at most %d", target, grant, a.Scope, a.ExpiresIn, ttl)
			}
			_, c := kwtest.DecodeJWT(t, a.AccessToken)
			act, _ := c["act"].(map[string]any)
			wantSub := "key:" + w.key.ID
			if target == "role" {
				wantSub = "federated:" + rules[target].ID
			}
			if c["sub"] != wantSub || c["federation_rule"] != rules[target].ID || act["iss"] != issuer || act["sub"] != sub {
				t.Errorf("%s via %s: claims %v", target, grant, c)
			}
			if r := w.call(t, "GET", a.AccessToken, ""); r.status != http.StatusOK {
				t.Fatalf("%s via %s lists containers: %d %s", target, grant, r.status, r.body)
			}
			name := target + "-" + strings.TrimPrefix(grant, "urn:ietf:params:oauth:grant-type:")
			r := w.call(t, "POST", a.AccessToken, `{"name":"`+name+`"}`)
			if r.status != http.StatusCreated || !strings.Contains(r.body, `"created_by":"`+wantSub+`"`) {
				t.Fatalf("%s via %s creates a container: %d %s", target, grant, r.status, r.body)
			}
			tokens["the "+target+" target's token via "+grant] = a.AccessToken
		}
	}
	if r := w.call(t, "GET", tokens["the key target's token via "+client.GrantJWTBearer], ""); !strings.Contains(r.body, "role-token-exchange") {
		t.Errorf("the list misses a container: %s", r.body)
	}

	ctx := context.Background()
	for _, r := range rules {
		if err := w.Admin.DeleteFederationRule(ctx, w.project, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	refusedWithin(t, containersURL(w.api, w.project), time.Now(), "the rules were deleted", tokens)
	// The API's refusal is the feed's doing: the key itself still works.
	if r := w.call(t, "GET", w.token(t, w.key), ""); r.status != http.StatusOK {
		t.Errorf("the key's own token after the rules went: %d", r.status)
	}
	subject, _ := mint(t, "key", client.GrantTokenExchange)
	if a := w.post(t, grantForm(client.GrantTokenExchange, subject, nil)); a.Error != "invalid_grant" || a.AccessToken != "" {
		t.Errorf("an exchange after the rules went: HTTP %d %v", a.status, a.raw)
	}
}

// TestFederationFromOIDCProvider: panva's oidc-provider, which nobody at keyward wrote, is the
// upstream issuer of the real keyward binary; its RS256 and ES256 tokens become keyward tokens
// through RFC 8693 and RFC 7523 that the example API takes, until the rules go.
func TestFederationFromOIDCProvider(t *testing.T) {
	provider := oidctest.Start(t)
	w := startFederated(t)
	w.trust(t, w.project, "upstream", provider.Issuer)
	subs := map[string]string{"key": "repo:octo/app:ref:refs/heads/main", "role": "repo:octo/ops:ref:refs/tags/v1"}
	federatedRoundTrip(t, w, provider.Issuer,
		map[string]string{"sub": "repo:octo/app:*", "repository_id": "42"},
		map[string]string{"sub": "repo:octo/ops:*"},
		func(t *testing.T, target, grant string) (string, string) {
			alg := "RS256"
			if grant == client.GrantJWTBearer {
				alg = "ES256"
			}
			return provider.Issue(t, oidctest.TokenRequest{Audience: w.URL, Alg: alg, Typ: "JWT",
				Claims: map[string]any{"sub": subs[target], "repository_id": "42"}}), subs[target]
		})
}

// TestFederationFromSecondKeyward: another keyward binary is the upstream issuer, found through
// its RFC 8414 metadata; the access tokens of two of its keys are the subject tokens.
func TestFederationFromSecondKeyward(t *testing.T) {
	w := startFederated(t)
	upstream := startKeyward(t, "--audience", w.URL)
	keys := map[string]*client.Key{
		"key":  upstream.createKey(t, upstream.Default.ID, "ci-app", nil, "api-keys-view"),
		"role": upstream.createKey(t, upstream.Default.ID, "ci-ops", nil, "api-keys-view"),
	}
	w.trust(t, w.project, "upstream", upstream.URL)
	federatedRoundTrip(t, w, upstream.URL,
		map[string]string{"sub": "key:" + keys["key"].ID, "project": upstream.Default.ID},
		map[string]string{"sub": "key:" + keys["role"].ID},
		func(t *testing.T, target, _ string) (string, string) {
			return upstream.token(t, keys[target]), "key:" + keys[target].ID
		})
}

// TestFederationHostileSubjectTokens: the real binary refuses every forged, stale, replayed or
// misdirected subject token made from genuine tokens of panva's oidc-provider with invalid_grant
// naming the failed check, never with a token and never revealing a rule.
func TestFederationHostileSubjectTokens(t *testing.T) {
	provider := oidctest.Start(t)
	w := startFederated(t, "--failed-attempts-per-minute", "10000")
	ctx := context.Background()
	other := oidctest.StartIssuer(t)                                     // trusted here too
	theirs := oidctest.StartIssuer(t)                                    // trusted by another project only
	rogue := oidctest.StartIssuer(t, oidctest.Claiming(provider.Issuer)) // its discovery document names the provider
	elsewhere, err := w.Admin.CreateProject(ctx, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	theirKey := w.createKey(t, elsewhere.ID, "theirs", nil, "containers-view")
	// Condition values no refusal may echo.
	const secretRepo, secretID = "octo-secret/app", "4242424"
	meets := map[string]any{"sub": "repo:" + secretRepo + ":ref:refs/heads/main", "repository_id": secretID}
	conditions := map[string]string{"sub": "repo:" + secretRepo + ":*", "repository_id": secretID}
	for _, i := range []struct{ project, name, url string }{
		{w.project, "node", provider.Issuer}, {w.project, "other", other.URL}, {w.project, "rogue", rogue.URL},
		{elsewhere.ID, "theirs", theirs.URL},
	} {
		w.trust(t, i.project, i.name, i.url)
		target := "key:" + w.key.ID
		if i.project == elsewhere.ID {
			target = "key:" + theirKey.ID
		}
		w.rule(t, i.project, client.CreateFederationRuleRequest{Name: "rule-" + i.name, Issuer: i.name, Conditions: conditions, Target: target})
	}

	now := time.Now()
	issue := func(alg string, claims map[string]any) string {
		return provider.Issue(t, oidctest.TokenRequest{Audience: w.URL, Alg: alg, Claims: claims})
	}
	rsa, ec := issue("RS256", meets), issue("ES256", meets)
	replayed := issue("RS256", meets)
	w.exchange(t, client.GrantTokenExchange, replayed)
	theirToken := theirs.Mint(t, w.URL, now, meets)
	w.exchange(t, client.GrantJWTBearer, theirs.Mint(t, w.URL, now, meets)) // it works there: refused below only here

	type hostile struct {
		name, token string
		project     string
		says        string
	}
	cases := []hostile{
		{name: "wrong aud", token: provider.Issue(t, oidctest.TokenRequest{Audience: "https://api.example.com", Claims: meets}), says: "audience"},
		{name: "aud re-signed", token: oidctest.WithClaims(t, rsa, provider.RSAKey, map[string]any{"aud": "https://api.example.com"}), says: "audience"},
		{name: "expired", token: oidctest.Expired(t, rsa, provider.RSAKey, now), says: "expired"},
		{name: "not yet valid", token: oidctest.NotYetValid(t, ec, provider.ECKey, now), says: "not valid yet"},
		{name: "issued in the future", token: oidctest.IssuedInFuture(t, rsa, provider.RSAKey, now), says: "future"},
		{name: "alg none", token: oidctest.AlgNone(t, rsa), says: "algorithm"},
		{name: "tampered claim", token: oidctest.Tamper(t, issue("RS256", map[string]any{"sub": meets["sub"], "repository_id": "1"}), "repository_id", secretID), says: "signature"},
		{name: "kid of another trusted issuer", token: oidctest.SignedByOther(t, rsa, other.Key()), says: "kid"},
		{name: "a condition's claim missing", token: issue("RS256", map[string]any{"sub": meets["sub"]}), says: "no rule"},
		{name: "a condition's value differs", token: issue("ES256", map[string]any{"sub": "repo:octo/other:ref:refs/heads/main", "repository_id": secretID}), says: "no rule"},
		{name: "replayed jti", token: replayed, says: "already used"},
		{name: "an issuer trusted by another project only", token: theirToken, project: w.project, says: "no rule"},
		{name: "iss differs from the discovery document's", token: rogue.Mint(t, w.URL, now, meets), says: "discovery"},
		{name: "the rogue signs as the provider", token: rogue.Mint(t, w.URL, now, map[string]any{"iss": provider.Issuer, "sub": meets["sub"], "repository_id": secretID}), says: "kid"},
	}
	for form, tok := range oidctest.KeyConfusion(t, rsa, provider.RSAKey.Public()) {
		cases = append(cases, hostile{name: "HS256 keyed with the RSA key as " + form, token: tok, says: "algorithm"})
	}
	for form, tok := range oidctest.KeyConfusion(t, ec, provider.ECKey.Public()) {
		cases = append(cases, hostile{name: "HS256 keyed with the EC key as " + form, token: tok, says: "algorithm"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, grant := range []string{client.GrantTokenExchange, client.GrantJWTBearer} {
				var extra url.Values
				if c.project != "" {
					extra = url.Values{"project": {c.project}}
				}
				a := w.post(t, grantForm(grant, c.token, extra))
				if a.status != http.StatusBadRequest || a.Error != "invalid_grant" || a.AccessToken != "" {
					t.Fatalf("%s: HTTP %d %v, want 400 invalid_grant", grant, a.status, a.raw)
				}
				if grant == client.GrantTokenExchange {
					t.Logf("%q", a.Description)
				}
				if !strings.Contains(strings.ToLower(a.Description), c.says) {
					t.Errorf("%s: description %q does not say %q", grant, a.Description, c.says)
				}
				for _, secret := range []string{secretRepo, secretID, "rule-", "fru_"} {
					if strings.Contains(a.Description, secret) {
						t.Errorf("%s: description %q reveals a rule (%s)", grant, a.Description, secret)
					}
				}
			}
		})
	}
	// The genuine tokens the forgeries were made from were never spent by them.
	w.exchange(t, client.GrantTokenExchange, rsa)
	w.exchange(t, client.GrantJWTBearer, ec)
}

// writeSubject replaces the token file at once, as the kubelet swaps a projected token.
func writeSubject(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestFederatedTokenSourceRotatingFile: a program using client.FederatedTokenSource with a
// subject-token file that its platform rotates keeps working across the expiry of its access
// tokens, each living only as long as the short subject token it came from.
func TestFederatedTokenSourceRotatingFile(t *testing.T) {
	provider := oidctest.Start(t)
	w := startFederated(t)
	w.trust(t, w.project, "upstream", provider.Issuer)
	w.rule(t, w.project, client.CreateFederationRuleRequest{Name: "pod", Issuer: "upstream", TTL: "1m",
		Conditions: map[string]string{"sub": "system:serviceaccount:shop:deployer"}, Target: "key:" + w.key.ID})
	// Subject tokens live 8 s and the file is rotated every 3 s: each access token lives until its
	// subject token's exp, and a fresh subject token is in the file before then.
	const subjectTTL, rotateEvery = 8 * time.Second, 3 * time.Second
	mint := func() string {
		return provider.Issue(t, oidctest.TokenRequest{Audience: w.URL, TTL: subjectTTL,
			Claims: map[string]any{"sub": "system:serviceaccount:shop:deployer"}})
	}
	path := filepath.Join(t.TempDir(), "token")
	writeSubject(t, path, mint())

	ctx := context.Background()
	ts := client.FederatedTokenSource(ctx, client.FederatedConfig{Server: w.URL, Subject: client.SubjectFromFile(path)})
	program := client.HTTPClient(ctx, ts)
	tokens := map[string]bool{}
	var calls int
	var rotations int
	start := time.Now()
	last := start
	for time.Since(start) < 20*time.Second {
		if time.Since(last) >= rotateEvery {
			writeSubject(t, path, mint())
			last = time.Now()
			rotations++
		}
		tok, err := ts.Token()
		if err != nil {
			t.Fatalf("the token source after %v: %v", time.Since(start).Round(time.Millisecond), err)
		}
		tokens[tok.AccessToken] = true
		resp, err := program.Get(containersURL(w.api, w.project))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		calls++
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the program's call %d after %v: HTTP %d", calls, time.Since(start).Round(time.Millisecond), resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d calls over %v, all 200, with %d access tokens and %d file rotations", calls, time.Since(start).Round(time.Millisecond), len(tokens), rotations)
	// 20 s of subject tokens that live 8 s need at least two renewals.
	if len(tokens) < 3 {
		t.Errorf("the program used %d access tokens over 20 s of 8-second subject tokens, want at least 3", len(tokens))
	}
}

// TestFederatedCLI: `keyward token --federated file:PATH` against the real server prints a token
// the example API accepts.
func TestFederatedCLI(t *testing.T) {
	provider := oidctest.Start(t)
	w := startFederated(t)
	w.trust(t, w.project, "upstream", provider.Issuer)
	w.rule(t, w.project, client.CreateFederationRuleRequest{Name: "job", Issuer: "upstream",
		Conditions: map[string]string{"sub": "job:nightly"}, Target: "role:" + w.role})
	path := filepath.Join(t.TempDir(), "token")
	writeSubject(t, path, provider.Token(t, w.URL, map[string]any{"sub": "job:nightly"}))

	cmd := exec.Command(keywardBin, "token", "--federated", "file:"+path, "--server", w.URL, "--project", "default", "--scope", "containers-view")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("keyward token --federated: %v: %s", err, stderr.String())
	}
	token := strings.TrimSpace(string(out))
	if strings.Count(string(out), "\n") != 1 || strings.Count(token, ".") != 2 {
		t.Fatalf("keyward token --federated printed %q, want one JWT on one line", out)
	}
	if r := w.call(t, "GET", token, ""); r.status != http.StatusOK {
		t.Errorf("the printed token lists containers: %d %s", r.status, r.body)
	}
	if r := w.call(t, "POST", token, `{"name":"from-cli"}`); r.status != http.StatusForbidden {
		t.Errorf("the token narrowed to containers-view creates a container: %d %s", r.status, r.body)
	}
}
