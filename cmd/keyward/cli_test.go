package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// cli runs the built keyward binary as a user would, with its own home and configuration folder
// and a clean KEYWARD_* environment.
type cli struct {
	t      *testing.T
	home   string
	dir    string   // working directory; "" for the test's
	env    []string // KEYWARD_* and other variables for every run
	config string   // the folder os.UserConfigDir names for home
}

func newCLI(t *testing.T, serverURL string) *cli {
	t.Helper()
	home := t.TempDir()
	c := &cli{t: t, home: home}
	c.env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	if serverURL != "" {
		c.env = append(c.env, "KEYWARD_SERVER="+serverURL)
	}
	switch runtime.GOOS {
	case "darwin":
		c.config = filepath.Join(home, "Library", "Application Support")
	case "windows":
		t.Skip("the CLI tests set up a Unix home folder")
	default:
		c.config = filepath.Join(home, ".config")
	}
	return c
}

func (c *cli) credentialsPath() string { return filepath.Join(c.config, "keyward", "credentials.json") }

// result is one finished run.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r *result) String() string {
	return "keyward " + strings.Join(r.args, " ") + ": exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// run runs keyward with args, stdin as standard input and extra environment variables.
func (c *cli) run(stdin string, extraEnv []string, args ...string) *result {
	c.t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(append(cleanEnv(), c.env...), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		c.t.Fatalf("run keyward: %v", err)
	}
	return r
}

// ok runs keyward and fails the test unless it exits 0.
func (c *cli) ok(args ...string) *result {
	c.t.Helper()
	r := c.run("", nil, args...)
	if r.code != 0 {
		c.t.Fatalf("want exit 0: %s", r)
	}
	return r
}

// fails runs keyward and checks the exit code and that standard error is one line starting with
// "keyward: " and containing want.
func (c *cli) fails(code int, want string, env []string, args ...string) *result {
	c.t.Helper()
	r := c.run("", env, args...)
	if r.code != code {
		c.t.Fatalf("want exit %d: %s", code, r)
	}
	if !strings.HasPrefix(r.stderr, "keyward: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, want) {
		c.t.Errorf("want one error line with %q on standard error: %s", want, r)
	}
	return r
}

func decodeJSON(t *testing.T, r *result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("--json output is not the expected shape (%v): %s", err, r)
	}
}

// The JSON shapes --json prints; decoding with DisallowUnknownFields pins them.
type (
	// projectOut is the client package's Project, as keyOut is its Key.
	projectOut = client.Project
	// keyOut is the client package's Key: decoding with unknown fields refused proves the CLI's
	// --json output and the typed client agree on the API's key shape.
	keyOut = client.Key
	// tokenOut is the token endpoint's answer, which the CLI prints as it came.
	tokenOut = client.TokenResponse
)

func startServer(t *testing.T) *kwtest.Server {
	// Several tests below fail on purpose; the default throttle would soon refuse the rest.
	return kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) { c.FailedAttemptsPerMinute = 1 << 20 }))
}

// signedIn starts a server and returns it with a CLI logged in to it as the instance admin.
func signedIn(t *testing.T) (*kwtest.Server, *cli) {
	t.Helper()
	s := startServer(t)
	c := newCLI(t, s.URL)
	c.login(t)
	return s, c
}

func (c *cli) login(t *testing.T) {
	t.Helper()
	r := c.run(kwtest.AdminPassword+"\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 0 || !strings.Contains(r.stdout, "Logged in") {
		t.Fatalf("login: %s", r)
	}
}

func TestLoginStoresCredentialsPrivately(t *testing.T) {
	s := startServer(t)
	c := newCLI(t, s.URL)

	c.fails(1, "not logged in", nil, "projects", "list")
	r := c.run("not-the-password\n", nil, "login", "--email", kwtest.AdminEmail)
	if r.code != 1 || !strings.Contains(r.stderr, "wrong") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("login with a wrong password: %s", r)
	}
	if _, err := os.Stat(c.credentialsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed login left a credentials file: %v", err)
	}
	c.fails(2, "--email", nil, "login")

	// The password comes from standard input when it is not a terminal; KEYWARD_EMAIL names the user.
	r = c.run(kwtest.AdminPassword+"\n", []string{"KEYWARD_EMAIL=" + kwtest.AdminEmail}, "login")
	if r.code != 0 {
		t.Fatalf("login: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, kwtest.AdminPassword) {
		t.Error("login printed the password")
	}
	info, err := os.Stat(c.credentialsPath())
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("credentials file mode: %o, want 600", mode)
	}
	dir, err := os.Stat(filepath.Dir(c.credentialsPath()))
	if err != nil {
		t.Fatal(err)
	}
	if mode := dir.Mode().Perm(); mode != 0o700 {
		t.Errorf("credentials folder mode: %o, want 700", mode)
	}
	stored := readCredentials(t, c)
	if stored.Server != s.URL || stored.RefreshToken == "" || stored.AccessToken == "" || stored.Email != kwtest.AdminEmail {
		t.Errorf("stored credentials: %+v", stored)
	}
	data, _ := os.ReadFile(c.credentialsPath())
	if strings.Contains(string(data), kwtest.AdminPassword) {
		t.Error("the credentials file holds the password")
	}
	c.ok("projects", "list")

	// Another server than the login's is refused, not sent the login's tokens.
	c.fails(1, "logged in to "+s.URL, []string{"KEYWARD_SERVER=http://127.0.0.1:1"}, "projects", "list")

	// Logging in again ends the previous session.
	c.login(t)
	kwtest.RequireOAuthError(t, s.Refresh(t, stored.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// Logging out ends the session on the server and forgets it here.
	stored = readCredentials(t, c)
	if r := c.ok("logout"); !strings.Contains(r.stdout, "Logged out") {
		t.Errorf("logout: %s", r)
	}
	if _, err := os.Stat(c.credentialsPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("logout left the credentials file: %v", err)
	}
	kwtest.RequireOAuthError(t, s.Refresh(t, stored.RefreshToken), http.StatusBadRequest, "invalid_grant")
	c.fails(1, "not logged in", nil, "keys", "list", "--project", "default")
	if r := c.ok("logout"); !strings.Contains(r.stdout, "Not logged in") {
		t.Errorf("a second logout: %s", r)
	}
}

func readCredentials(t *testing.T, c *cli) *credentials {
	t.Helper()
	data, err := os.ReadFile(c.credentialsPath())
	if err != nil {
		t.Fatal(err)
	}
	var cr credentials
	if err := json.Unmarshal(data, &cr); err != nil {
		t.Fatal(err)
	}
	return &cr
}

// TestStoredLoginRefreshes proves that a renewed login is saved (each refresh token works once),
// and that concurrent commands renew it once between them instead of spending one refresh token
// twice, which the server would take for theft and answer by ending the session.
func TestStoredLoginRefreshes(t *testing.T) {
	_, c := signedIn(t)

	expire := func() *credentials {
		t.Helper()
		cr := readCredentials(t, c)
		cr.Expiry = time.Now().Add(-time.Minute)
		data, _ := json.Marshal(cr)
		if err := os.WriteFile(c.credentialsPath(), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return cr
	}
	before := expire()
	c.ok("projects", "list")
	after := readCredentials(t, c)
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken || !after.Expiry.After(time.Now()) {
		t.Fatalf("the refreshed pair was not saved: before %+v, after %+v", before, after)
	}
	if info, err := os.Stat(c.credentialsPath()); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the rewritten credentials file: %v %v", info.Mode(), err)
	}

	expire()
	var wg sync.WaitGroup
	results := make([]*result, 4)
	for i := range results {
		wg.Go(func() { results[i] = c.run("", nil, "projects", "list") })
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Errorf("a concurrent command failed: %s", r)
		}
	}
	c.ok("projects", "list")
}

func TestProjectsAndKeys(t *testing.T) {
	s, c := signedIn(t)

	// projects
	r := c.ok("projects", "list")
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "default") {
		t.Errorf("projects list: %s", r)
	}
	r = c.ok("projects", "create", "web-shop")
	if !strings.Contains(r.stdout, "Created project web-shop (prj_") {
		t.Errorf("projects create: %s", r)
	}
	var created projectOut
	decodeJSON(t, c.ok("projects", "create", "--json", "billing"), &created)
	if created.Name != "billing" || !strings.HasPrefix(created.ID, "prj_") || len(created.Permissions) == 0 {
		t.Errorf("projects create --json: %+v", created)
	}
	c.fails(1, `A project named "web-shop" already exists`, nil, "projects", "create", "web-shop")
	c.fails(1, "1 to 63 lower-case letters", nil, "projects", "create", "Not A Slug")
	var projects []projectOut
	decodeJSON(t, c.ok("projects", "list", "--json"), &projects)
	var names []string
	for _, p := range projects {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"billing", "default", "web-shop"}) {
		t.Errorf("projects list --json names: %v", names)
	}

	// keys create: the key alone on standard output, the notice on standard error.
	r = c.ok("keys", "create", "--project", "web-shop", "--name", "deploy", "--permissions", "containers-view, images-view",
		"--ips", "127.0.0.1,::1", "--expires", "2099-01-31T12:00:00Z")
	deployKey := strings.TrimSpace(r.stdout)
	deployID, err := apikey.Parse(deployKey)
	if err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("keys create did not print the key alone: %v\n%s", err, r)
	}
	if !strings.Contains(r.stderr, "shown this once") || strings.Contains(r.stderr, deployKey) || !strings.Contains(r.stderr, deployID) {
		t.Errorf("keys create notice: %s", r)
	}
	// Flags after the positional part, and the project from the environment.
	var ci keyOut
	r = c.run("", []string{"KEYWARD_PROJECT=web-shop"}, "keys", "create", "--json", "--name", "ci", "--permissions", "api-keys-view,containers-view", "--expires", "30d")
	if r.code != 0 {
		t.Fatalf("keys create --json: %s", r)
	}
	decodeJSON(t, r, &ci)
	if _, err := apikey.Parse(ci.Secret); err != nil || ci.Name != "ci" || ci.ExpiresAt == nil || ci.Hint != apikey.Hint(ci.Secret) {
		t.Errorf("keys create --json: %+v", ci)
	}
	if d := time.Until(*ci.ExpiresAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("--expires 30d gave expires_at %v", ci.ExpiresAt)
	}
	c.fails(1, `An API key named "deploy" already exists`, nil, "keys", "create", "--project", "web-shop", "--name", "deploy", "--permissions", "images-view")
	c.fails(1, `Unknown permission "no-such-permission"`, nil, "keys", "create", "--project", "web-shop", "--name", "x", "--permissions", "no-such-permission")
	c.fails(1, "is not an IP address", nil, "keys", "create", "--project", "web-shop", "--name", "x", "--permissions", "images-view", "--ips", "300.0.0.1")
	c.fails(2, "--expires", nil, "keys", "create", "--project", "web-shop", "--name", "x", "--permissions", "images-view", "--expires", "tomorrow")
	c.fails(2, "--name is required", nil, "keys", "create", "--project", "web-shop", "--permissions", "images-view")
	c.fails(2, "--permissions or --role is required", nil, "keys", "create", "--project", "web-shop", "--name", "x")
	c.fails(1, `Project "nowhere" was not found`, nil, "keys", "create", "--project", "nowhere", "--name", "x", "--permissions", "images-view")

	// keys list: a table and JSON, never a secret.
	r = c.ok("keys", "list", "--project", "web-shop")
	for _, want := range []string{"NAME", "deploy", deployID, "…" + apikey.Hint(deployKey), "containers-view,images-view", "127.0.0.1,::1", "2099-01-31 12:00Z", "ci", ci.ID, "never"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys list lacks %q: %s", want, r)
		}
	}
	var keys []keyOut
	r = c.ok("keys", "list", "--project", "web-shop", "--json")
	decodeJSON(t, r, &keys)
	if len(keys) != 2 {
		t.Fatalf("keys list --json: %s", r)
	}
	for _, k := range keys {
		if k.Secret != "" || k.ID == "" || k.Hint == "" || k.CreatedBy == "" || len(k.Permissions) == 0 {
			t.Errorf("keys list --json entry: %+v", k)
		}
	}
	for _, out := range []string{r.stdout, c.ok("keys", "list", "--project", "web-shop").stdout} {
		if strings.Contains(out, deployKey) || strings.Contains(out, ci.Secret) || strings.Contains(out, deployKey[len(apikey.Prefix)+apikey.IDLength:]) {
			t.Errorf("keys list shows a secret:\n%s", out)
		}
	}
	if r := c.ok("keys", "list", "--project", "billing", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("an empty key list in JSON: %s", r)
	}
	if r := c.ok("keys", "list", "--project", "billing"); !strings.Contains(r.stdout, "no API keys") {
		t.Errorf("an empty key list: %s", r)
	}
	// keys list pages: --limit shows the first keys and says there are more, --all shows every
	// one, --search finds by id or the beginning of a name.
	r = c.ok("keys", "list", "--project", "web-shop", "--all", "--json")
	decodeJSON(t, r, &keys)
	if len(keys) != 2 || r.stderr != "" {
		t.Fatalf("keys list --all: %s", r)
	}
	oldest := keys[0].ID // both keys may have been created in the same second: the id decides
	r = c.ok("keys", "list", "--project", "web-shop", "--limit", "1", "--json")
	decodeJSON(t, r, &keys)
	if len(keys) != 1 || keys[0].ID != oldest || !strings.Contains(r.stderr, "showing the first 1 keys; --all lists every one") {
		t.Errorf("keys list --limit 1: %s", r)
	}
	for search, want := range map[string]string{"DEP": deployID, ci.ID: ci.ID} {
		r = c.ok("keys", "list", "--project", "web-shop", "--search", search, "--json")
		decodeJSON(t, r, &keys)
		if len(keys) != 1 || keys[0].ID != want {
			t.Errorf("keys list --search %s: %s", search, r)
		}
	}
	if r := c.ok("keys", "list", "--project", "web-shop", "--search", "nothing"); !strings.Contains(r.stdout, "No API key of project web-shop") {
		t.Errorf("keys list --search nothing: %s", r)
	}
	c.fails(2, "not both", nil, "keys", "list", "--project", "web-shop", "--all", "--limit", "5")
	c.fails(2, "from 1 to 1000", nil, "keys", "list", "--project", "web-shop", "--limit", "0")
	c.fails(2, "you belong to 3 projects (", nil, "keys", "list")
	c.fails(1, `Project "nowhere" was not found`, nil, "keys", "list", "--project", "nowhere")

	// token: the key's access token, or the whole response.
	keyEnv := []string{"KEYWARD_API_KEY=" + deployKey}
	r = c.run("", keyEnv, "token")
	if r.code != 0 || strings.Count(r.stdout, ".") != 2 || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("token: %s", r)
	}
	_, claims := kwtest.DecodeJWT(t, strings.TrimSpace(r.stdout))
	if claims["sub"] != "key:"+deployID || claims["scope"] != "containers-view images-view" {
		t.Errorf("token claims: %v", claims)
	}
	var tok tokenOut
	r = c.run("", keyEnv, "token", "--json", "--scope", "images-view")
	decodeJSON(t, r, &tok)
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 7200 || tok.RefreshToken == "" || tok.RefreshExpiresIn != 10800 || tok.Scope != "images-view" || tok.AccessToken == "" {
		t.Errorf("token --json: %+v", tok)
	}
	kwtest.RequireToken(t, s.Refresh(t, tok.RefreshToken))
	c.fails(1, "invalid_scope", keyEnv, "token", "--scope", "billing-view")
	c.fails(1, "invalid_client", []string{"KEYWARD_API_KEY=" + kwtest.UnknownKey(t)}, "token")
	c.fails(1, "malformed", []string{"KEYWARD_API_KEY=kw_short"}, "token")
	c.fails(2, "KEYWARD_API_KEY", nil, "token")

	// An API key acts on its own project without --project, within its permissions.
	ciEnv := []string{"KEYWARD_API_KEY=" + ci.Secret}
	r = c.run("", ciEnv, "keys", "list", "--json")
	decodeJSON(t, r, &keys)
	if len(keys) != 2 {
		t.Errorf("keys list with an API key: %s", r)
	}
	c.fails(1, `needs the "api-keys-manage" permission`, ciEnv, "keys", "delete", "deploy")
	c.fails(1, "An API key cannot create projects", ciEnv, "projects", "create", "by-a-key")

	// keys edit: a narrowing ends the key's sessions; what is not given stays.
	r = c.run("", keyEnv, "token", "--json")
	decodeJSON(t, r, &tok)
	c.fails(1, `needs the "api-keys-manage" permission`, ciEnv, "keys", "edit", "deploy", "--name", "mine")
	c.fails(2, "nothing to change", nil, "keys", "edit", "deploy", "--project", "web-shop")
	c.fails(2, "not both", nil, "keys", "edit", "deploy", "--project", "web-shop", "--expires", "30d", "--no-expiry")
	c.fails(1, `An API key named "ci" already exists`, nil, "keys", "edit", "deploy", "--project", "web-shop", "--name", "ci")
	r = c.ok("keys", "edit", "deploy", "--project", "web-shop", "--permissions", "images-view", "--ips", "", "--no-expiry")
	if !strings.Contains(r.stdout, `Updated API key "deploy" (id `+deployID+") in project web-shop: role -, permissions images-view, IPs any, expires never") {
		t.Errorf("keys edit: %s", r)
	}
	kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	r = c.run("", keyEnv, "token")
	if _, claims := kwtest.DecodeJWT(t, strings.TrimSpace(r.stdout)); claims["scope"] != "images-view" {
		t.Errorf("token after keys edit: %v", claims)
	}
	var edited keyOut
	decodeJSON(t, c.ok("keys", "edit", deployID, "--project", "web-shop", "--expires", "2099-01-31", "--json"), &edited)
	if edited.ExpiresAt == nil || edited.ExpiresAt.Format(time.RFC3339) != "2099-01-31T00:00:00Z" || edited.Secret != "" {
		t.Errorf("keys edit --json: %+v", edited)
	}

	// keys delete, by name and by id; the key's tokens stop working.
	r = c.ok("keys", "delete", "deploy", "--project", "web-shop")
	if !strings.Contains(r.stdout, "Deleted API key "+deployID) {
		t.Errorf("keys delete: %s", r)
	}
	c.fails(1, "invalid_client", keyEnv, "token")
	kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	c.fails(1, `no API key with id or name "deploy"`, nil, "keys", "delete", "--project", "web-shop", "deploy")
	c.ok("keys", "delete", "--project", "web-shop", ci.ID)
	c.fails(1, "no API key with id or name", nil, "keys", "delete", "--project", "web-shop", ci.ID)
	c.fails(2, "usage: keyward keys delete", nil, "keys", "delete", "--project", "web-shop")

	// Command-line mistakes exit 2.
	for _, args := range [][]string{{"keys"}, {"keys", "rotate"}, {"projects", "rename"}, {"keys", "list", "--no-such-flag"}, {"token", "extra"}} {
		if r := c.run("", nil, args...); r.code != 2 {
			t.Errorf("want exit 2: %s", r)
		}
	}
	if strings.Contains(s.Logs(), deployKey) || strings.Contains(s.Logs(), ci.Secret) {
		t.Error("a key reached the server log")
	}
}

func TestPermissions(t *testing.T) {
	s := startServer(t)
	c := newCLI(t, s.URL) // no login: the catalog is public

	r := c.ok("permissions")
	catalog := keyward.DefaultCatalog().All()
	for _, p := range catalog {
		if !strings.Contains(r.stdout, "\n  "+p.Name+" ") || !strings.Contains(r.stdout, p.Description) {
			t.Errorf("permissions lacks %s: %s", p.Name, r)
		}
	}
	// Grouped: each group's name precedes its permissions.
	for _, p := range catalog {
		g, n := strings.Index(r.stdout, p.Group+"\n"), strings.Index(r.stdout, "  "+p.Name+" ")
		if g < 0 || g > n {
			t.Errorf("permission %s is not under its group %q", p.Name, p.Group)
		}
	}
	var perms []keyward.Permission
	decodeJSON(t, c.ok("permissions", "--json"), &perms)
	if !slices.Equal(perms, catalog) {
		t.Errorf("permissions --json: %v", perms)
	}

	unreachable := newCLI(t, "http://127.0.0.1:1")
	unreachable.fails(1, "the keyward server at http://127.0.0.1:1 is not answering", nil, "permissions")
}

// TestKeysEditOwner: keys edit --owner hands a key to a member named by email or user id, is
// refused for a member without the key's permissions, and saves a key its owner's removal
// disabled.
func TestKeysEditOwner(t *testing.T) {
	s, c := signedIn(t)
	admin := s.AdminToken(t)
	c.ok("projects", "create", "web-shop")
	member := func(u *kwtest.User, perms ...string) {
		t.Helper()
		r := s.API(t, http.MethodPut, "/v1/projects/web-shop/members/"+u.ID, admin, map[string]any{"permissions": perms})
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			t.Fatalf("put member: %s", r)
		}
	}
	bob := s.CreateUser(t, admin, "bob@example.com", "correct horse battery staple 2")
	eve := s.CreateUser(t, admin, "eve@example.com", "correct horse battery staple 3")
	member(bob, "containers-view")
	member(eve, "containers-view", "containers-manage")
	c.ok("keys", "create", "--project", "web-shop", "--name", "deploy", "--permissions", "containers-view,containers-manage")

	c.fails(2, "--owner needs", nil, "keys", "edit", "deploy", "--project", "web-shop", "--owner", " ")
	c.fails(1, "no member of project web-shop has the email nobody@example.com", nil,
		"keys", "edit", "deploy", "--project", "web-shop", "--owner", "nobody@example.com")
	c.fails(1, `"containers-manage"`, nil, "keys", "edit", "deploy", "--project", "web-shop", "--owner", "bob@example.com")
	r := c.ok("keys", "edit", "deploy", "--project", "web-shop", "--owner", "EVE@example.com")
	if !strings.Contains(r.stdout, "It now belongs to EVE@example.com ("+eve.ID+").") {
		t.Errorf("keys edit --owner: %s", r)
	}

	// Eve leaves: her key is disabled until it is handed to bob, by id.
	if r := s.API(t, http.MethodDelete, "/v1/projects/web-shop/members/"+eve.ID, admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("remove eve: %s", r)
	}
	var keys []keyOut
	decodeJSON(t, c.ok("keys", "list", "--project", "web-shop", "--json"), &keys)
	if len(keys) != 1 || keys[0].DisabledAt == nil {
		t.Fatalf("keys after the owner's removal: %+v", keys)
	}
	member(bob, "containers-view", "containers-manage")
	var edited keyOut
	decodeJSON(t, c.ok("keys", "edit", "deploy", "--project", "web-shop", "--owner", bob.ID, "--json"), &edited)
	if edited.Owner != bob.ID || edited.DisabledAt != nil {
		t.Errorf("keys edit --owner ID --json: %+v", edited)
	}
}

// TestProjectsRenameDelete: a project is renamed and then deleted, the deletion only with --yes;
// its keys stop exchanging.
func TestProjectsRenameDelete(t *testing.T) {
	s, c := signedIn(t)

	c.ok("projects", "create", "old-name")
	r := c.ok("projects", "rename", "old-name", "new-name")
	if !strings.Contains(r.stdout, "Renamed project old-name to new-name (prj_") {
		t.Errorf("projects rename: %s", r)
	}
	var renamed projectOut
	decodeJSON(t, c.ok("projects", "rename", "--json", "new-name", "newer-name"), &renamed)
	if renamed.Name != "newer-name" || !strings.HasPrefix(renamed.ID, "prj_") {
		t.Errorf("projects rename --json: %+v", renamed)
	}
	c.fails(1, `A project named "default" already exists`, nil, "projects", "rename", "newer-name", "default")
	c.fails(1, "1 to 63 lower-case letters", nil, "projects", "rename", "newer-name", "Not A Slug")
	c.fails(2, "usage: keyward projects rename", nil, "projects", "rename", "newer-name")

	key := strings.TrimSpace(c.ok("keys", "create", "--project", "newer-name", "--name", "ci", "--permissions", "containers-view").stdout)
	c.fails(2, "add --yes to confirm", nil, "projects", "delete", "newer-name")
	c.ok("projects", "list") // still there
	r = c.ok("projects", "delete", "newer-name", "--yes")
	if !strings.Contains(r.stdout, "Deleted project newer-name") {
		t.Errorf("projects delete: %s", r)
	}
	c.fails(1, `"newer-name" was not found`, nil, "projects", "delete", "--yes", "newer-name")
	rq := s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(kwtest.KeyID(t, key), key))
	kwtest.RequireOAuthError(t, rq, http.StatusUnauthorized, "invalid_client")
}

// TestKeysRoll: keys roll prints the new secret alone, as keys create does; the old one works
// through the grace, and both exchange meanwhile.
func TestKeysRoll(t *testing.T) {
	s, c := signedIn(t)
	c.ok("projects", "create", "web-shop")
	old := strings.TrimSpace(c.ok("keys", "create", "--project", "web-shop", "--name", "deploy", "--permissions", "images-view").stdout)
	id, err := apikey.Parse(old)
	if err != nil {
		t.Fatal(err)
	}
	c.fails(2, "--grace must be from 0s to 24h", nil, "keys", "roll", "deploy", "--project", "web-shop", "--grace", "25h")
	c.fails(2, "usage: keyward keys roll", nil, "keys", "roll", "--project", "web-shop")
	r := c.ok("keys", "roll", "deploy", "--project", "web-shop", "--grace", "10m")
	rolled := strings.TrimSpace(r.stdout)
	if got, err := apikey.Parse(rolled); err != nil || got != id || rolled == old || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("keys roll did not print the new key alone: %v\n%s", err, r)
	}
	if !strings.Contains(r.stderr, "Rolled API key \"deploy\" (id "+id+")") || !strings.Contains(r.stderr, "shown this once") ||
		strings.Contains(r.stderr, rolled) {
		t.Errorf("keys roll notice: %s", r)
	}
	s.Exchange(t, old)
	s.Exchange(t, rolled)

	var again keyOut
	decodeJSON(t, c.ok("keys", "roll", id, "--project", "web-shop", "--grace", "0s", "--json"), &again)
	if again.Secret == "" || again.Secret == rolled || again.ID != id {
		t.Errorf("keys roll --json: %+v", again)
	}
	kwtest.RequireOAuthError(t, s.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}}, kwtest.Basic(id, rolled)),
		http.StatusUnauthorized, "invalid_client")
	s.Exchange(t, again.Secret)
}

// TestRoles: roles are listed, created, edited and deleted; keys take a role on create and edit;
// narrowing a role ends the sessions of the keys that hold it; a role in use stays.
func TestRoles(t *testing.T) {
	s, c := signedIn(t)
	c.ok("projects", "create", "web-shop")

	// Every project starts with the default roles; the creator holds the owner role.
	r := c.ok("roles", "list", "--project", "web-shop")
	for _, want := range []string{"NAME", "PERMISSIONS", "MEMBERS", "KEYS", "admin", "developer", "viewer", "every permission (the owner role"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("roles list lacks %q: %s", want, r)
		}
	}
	var roles []client.Role
	decodeJSON(t, c.ok("roles", "list", "--project", "web-shop", "--json"), &roles)
	if len(roles) != 4 {
		t.Fatalf("roles list --json: %+v", roles)
	}
	for _, role := range roles {
		if (role.Name == "owner") != role.Owner || !strings.HasPrefix(role.ID, "rol_") || (role.Owner && role.Members != 1) {
			t.Errorf("default role: %+v", role)
		}
	}
	r = c.ok("roles", "list", "--project", "web-shop", "--limit", "1", "--json")
	decodeJSON(t, r, &roles)
	if len(roles) != 1 || !strings.Contains(r.stderr, "showing the first 1 roles; --all lists every one") {
		t.Errorf("roles list --limit 1: %s", r)
	}

	// roles create: a table line, or the role as JSON.
	r = c.ok("roles", "create", "deployer", "--project", "web-shop", "--permissions", "containers-view,containers-manage", "--description", "Deploys.")
	if !strings.Contains(r.stdout, "Created role deployer (id rol_") || !strings.Contains(r.stdout, "in project web-shop: permissions containers-view,containers-manage.") {
		t.Errorf("roles create: %s", r)
	}
	var reader client.Role
	decodeJSON(t, c.ok("roles", "create", "--json", "reader", "--project", "web-shop", "--permissions", "images-view"), &reader)
	if reader.Name != "reader" || !slices.Equal(reader.Permissions, []string{"images-view"}) || reader.Owner {
		t.Errorf("roles create --json: %+v", reader)
	}
	c.fails(1, `A role named "dep1oyer" already exists`, nil, "roles", "create", "dep1oyer", "--project", "web-shop", "--permissions", "images-view")
	c.fails(1, "lower-case letters", nil, "roles", "create", "Not A Slug", "--project", "web-shop", "--permissions", "images-view")
	c.fails(1, `Unknown permission "no-such-permission"`, nil, "roles", "create", "x", "--project", "web-shop", "--permissions", "no-such-permission")
	decodeJSON(t, c.ok("roles", "list", "--project", "web-shop", "--search", "DEP", "--json"), &roles)
	if len(roles) != 1 || roles[0].Name != "deployer" || roles[0].Description != "Deploys." {
		t.Errorf("roles list --search DEP: %+v", roles)
	}
	if r := c.ok("roles", "list", "--project", "web-shop", "--search", "nothing"); !strings.Contains(r.stdout, "No role of project web-shop") {
		t.Errorf("roles list --search nothing: %s", r)
	}

	// keys create --role: the key holds the role's permissions without any of its own.
	deployKey := strings.TrimSpace(c.ok("keys", "create", "--project", "web-shop", "--name", "deploy", "--role", "deployer").stdout)
	c.ok("keys", "create", "--project", "web-shop", "--name", "ci", "--role", "deployer", "--permissions", "images-view")
	c.fails(1, `Role "nobody" was not found`, nil, "keys", "create", "--project", "web-shop", "--name", "x", "--role", "nobody")
	r = c.ok("keys", "list", "--project", "web-shop")
	if !strings.Contains(r.stdout, "ROLE") || strings.Count(r.stdout, "deployer") != 2 {
		t.Errorf("keys list lacks the role: %s", r)
	}
	keyEnv := []string{"KEYWARD_API_KEY=" + deployKey}
	var tok tokenOut
	decodeJSON(t, c.run("", keyEnv, "token", "--json"), &tok)
	if tok.Scope != "containers-manage containers-view" && tok.Scope != "containers-view containers-manage" {
		t.Errorf("the token of a key with a role: scope %q", tok.Scope)
	}

	// roles edit: narrowing the role ends the sessions of the keys that hold it.
	c.fails(2, "nothing to change", nil, "roles", "edit", "deployer", "--project", "web-shop")
	c.fails(2, "--permissions needs at least one", nil, "roles", "edit", "deployer", "--project", "web-shop", "--permissions", "")
	r = c.ok("roles", "edit", "deployer", "--project", "web-shop", "--permissions", "containers-view")
	if !strings.Contains(r.stdout, "Updated role deployer (id rol_") || !strings.Contains(r.stdout, "permissions containers-view; held by 0 members and 2 API keys.") {
		t.Errorf("roles edit: %s", r)
	}
	kwtest.RequireOAuthError(t, s.Refresh(t, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if _, claims := kwtest.DecodeJWT(t, strings.TrimSpace(c.run("", keyEnv, "token").stdout)); claims["scope"] != "containers-view" {
		t.Errorf("token after the role's narrowing: %v", claims)
	}
	var edited client.Role
	decodeJSON(t, c.ok("roles", "edit", "deployer", "--project", "web-shop", "--description", "", "--json"), &edited)
	if edited.Description != "" || edited.Keys != 2 {
		t.Errorf("roles edit --json: %+v", edited)
	}
	c.fails(1, "The owner role always holds every permission", nil, "roles", "edit", "owner", "--project", "web-shop", "--description", "x")
	c.fails(1, `Role "nobody" was not found`, nil, "roles", "edit", "nobody", "--project", "web-shop", "--description", "x")

	// keys edit --role and --no-role.
	r = c.ok("keys", "edit", "deploy", "--project", "web-shop", "--role", "reader")
	if !strings.Contains(r.stdout, "role reader, permissions -,") {
		t.Errorf("keys edit --role: %s", r)
	}
	c.fails(1, "needs a role or at least one of the permissions", nil, "keys", "edit", "deploy", "--project", "web-shop", "--no-role")
	r = c.ok("keys", "edit", "deploy", "--project", "web-shop", "--no-role", "--permissions", "images-view")
	if !strings.Contains(r.stdout, "role -, permissions images-view,") {
		t.Errorf("keys edit --no-role: %s", r)
	}
	var key keyOut
	decodeJSON(t, c.ok("keys", "edit", "deploy", "--project", "web-shop", "--role", reader.ID, "--json"), &key)
	if key.Role == nil || *key.Role != "reader" {
		t.Errorf("keys edit --role ID --json: %+v", key)
	}
	c.fails(2, "--role needs a role's name or id", nil, "keys", "edit", "deploy", "--project", "web-shop", "--role", "")
	c.fails(2, "give --role or --no-role, not both", nil, "keys", "edit", "deploy", "--project", "web-shop", "--role", "reader", "--no-role")
	c.fails(1, `Role "nobody" was not found`, nil, "keys", "edit", "deploy", "--project", "web-shop", "--role", "nobody")

	// roles delete: a role in use stays, an unused one goes.
	c.fails(1, `Role "deployer" is held by 0 members and 1 API key; give them another role first.`, nil, "roles", "delete", "deployer", "--project", "web-shop")
	c.fails(1, "The owner role", nil, "roles", "delete", "owner", "--project", "web-shop")
	c.ok("keys", "edit", "ci", "--project", "web-shop", "--no-role")
	if r := c.ok("roles", "delete", "deployer", "--project", "web-shop"); !strings.Contains(r.stdout, "Deleted role deployer from project web-shop.") {
		t.Errorf("roles delete: %s", r)
	}
	c.fails(1, `Role "deployer" was not found`, nil, "roles", "delete", "deployer", "--project", "web-shop")
	c.fails(2, "usage: keyward roles delete", nil, "roles", "delete", "--project", "web-shop")
	c.fails(2, "--permissions is required", nil, "roles", "create", "x", "--project", "web-shop")
	c.fails(2, "usage: keyward roles create", nil, "roles", "create", "--project", "web-shop", "--permissions", "images-view")

	// A key reads the roles of its own project, within its permissions.
	ciKey := strings.TrimSpace(c.ok("keys", "create", "--project", "web-shop", "--name", "viewer-bot", "--role", "viewer").stdout)
	decodeJSON(t, c.run("", []string{"KEYWARD_API_KEY=" + ciKey}, "roles", "list", "--json"), &roles)
	if len(roles) != 5 {
		t.Errorf("roles list with an API key: %+v", roles)
	}
	c.fails(1, `needs the "members-manage" permission`, []string{"KEYWARD_API_KEY=" + ciKey}, "roles", "delete", "reader")
}

// TestKeysListShowsStates: keys list tells an active key from one disabled because it leaked
// (its holder revoked it at /oauth/revoke), and says why.
func TestKeysListShowsStates(t *testing.T) {
	s, c := signedIn(t)
	c.ok("keys", "create", "--project", "default", "--name", "kept", "--permissions", "images-view")
	leaked := strings.TrimSpace(c.ok("keys", "create", "--project", "default", "--name", "leaked", "--permissions", "images-view").stdout)
	resp, err := http.PostForm(s.URL+"/oauth/revoke", url.Values{"token": {leaked}, "token_type_hint": {"api_key"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("self-revocation: HTTP %d", resp.StatusCode)
	}
	r := c.ok("keys", "list", "--project", "default")
	for _, want := range []string{"STATE", "active", "disabled (leaked)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys list lacks %q: %s", want, r)
		}
	}
}
