package main

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/server"
)

// oneLine checks that a run exited with code and printed exactly want, one line, on standard
// error: no help text after it, no doubled prefix.
func (c *cli) oneLine(code int, want string, env []string, args ...string) {
	c.t.Helper()
	r := c.run("", env, args...)
	if r.code != code || r.stderr != want+"\n" {
		c.t.Errorf("want exit %d and the one line %q: %s", code, want, r)
	}
}

func TestCommandLineMistakesGetOneLine(t *testing.T) {
	c := newCLI(t, "")
	// Unknown flags and commands: the nearest name, and where the flags are listed.
	c.oneLine(2, `keyward keys create: unknown flag --nmae (did you mean --name?); 'keyward keys create -h' lists the flags`, nil,
		"keys", "create", "--nmae", "ci")
	c.oneLine(2, `keyward serve: unknown flag --acces-ttl (did you mean --access-ttl?); 'keyward serve -h' lists the flags`, nil,
		"serve", "--acces-ttl", "2h")
	c.oneLine(2, `keyward scan: unknown flag --everything; 'keyward scan -h' lists the flags`, nil, "scan", "--everything")
	c.oneLine(2, `keyward keys create: --expires needs a value; 'keyward keys create -h' lists the flags`, nil, "keys", "create", "--expires")
	c.oneLine(2, `keyward: unknown command "sevre" (did you mean serve?); 'keyward -h' lists the commands`, nil, "sevre")
	c.oneLine(2, `keyward keys: unknown command "lsit" (did you mean list?); 'keyward keys -h' lists the commands`, nil, "keys", "lsit")
	c.oneLine(2, `keyward projects: unknown command "remove"; 'keyward projects -h' lists the commands`, nil, "projects", "remove")

	// Typed flags say which flag, what was given, and what would do.
	c.oneLine(2, `keyward serve: --access-ttl: "2x" is not a duration; use a value such as 2h or 90m`, nil, "serve", "--access-ttl", "2x")
	c.oneLine(2, `keyward: KEYWARD_ACCESS_TTL: "2x" is not a duration; use a value such as 2h or 90m`, []string{"KEYWARD_ACCESS_TTL=2x"}, "serve")
	c.oneLine(2, `keyward serve: --failed-attempts-per-minute: "ten" is not a whole number; use a value such as 10`, nil,
		"serve", "--failed-attempts-per-minute", "ten")
	c.oneLine(2, `keyward serve: --password-grant: "maybe" is not true or false`, nil, "serve", "--password-grant=maybe")
	c.oneLine(2, `keyward serve: --trusted-proxies: "10.0.0" is not an IP address or a CIDR network`, nil, "serve", "--trusted-proxies", "10.0.0")

	// -h still prints the command's flags.
	if r := c.run("", nil, "keys", "create", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-permissions") {
		t.Errorf("keys create -h: %s", r)
	}
}

func TestServeStartupErrorsHaveOnePrefix(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	c.dir = dir
	r := c.run("", nil, "serve", "--db", "mysql://db/keyward", "--addr", "127.0.0.1:0")
	if r.code != 2 || strings.Count(r.stderr, "keyward:") != 1 || !strings.HasPrefix(r.stderr, "keyward: --db: Unsupported database") ||
		strings.Contains(r.stderr, "invalid:") {
		t.Errorf("want one line with one prefix and no error code: %s", r)
	}

	catalog := filepath.Join(dir, "permissions.json")
	if err := os.WriteFile(catalog, []byte("[\n  {\"name\": \"a-view\", \"group\": \"A\"},\n  {\"name\": [\"b\"], \"group\": \"B\"}\n]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.oneLine(2, "keyward: --permissions "+catalog+`: The permission catalog's entry 2 (line 3): "name" must be a string, not an array.`, nil,
		"serve", "--db", "sqlite:"+filepath.Join(dir, "k.db"), "--addr", "127.0.0.1:0", "--permissions", catalog)
}

func TestLoginAfterItEndedRemembersTheServer(t *testing.T) {
	s := startServer(t)
	c := newCLI(t, "")
	if r := c.run(kwtest.AdminPassword+"\n", nil, "login", "--server", s.URL, "--email", kwtest.AdminEmail); r.code != 0 {
		t.Fatalf("login: %s", r)
	}
	// The session ends: its refresh token is no longer accepted once the access token expires.
	cr := readCredentials(t, c)
	cr.Expiry, cr.RefreshToken = time.Now().Add(-time.Minute), "kwr_unknown"
	data, _ := json.Marshal(cr)
	if err := os.WriteFile(c.credentialsPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(1, "your login to "+s.URL+" has ended", nil, "projects", "list")
	c.fails(1, "your login to "+s.URL+" has ended", nil, "keys", "list")

	// Without KEYWARD_SERVER or --server, logging in again goes to the same server.
	if r := c.run(kwtest.AdminPassword+"\n", nil, "login", "--email", kwtest.AdminEmail); r.code != 0 || !strings.Contains(r.stdout, "Logged in to "+s.URL) {
		t.Fatalf("login again: %s", r)
	}
	c.ok("projects", "list")
}

func TestThrottledLoginSaysWhenToRetry(t *testing.T) {
	s := kwtest.Start(t, kwtest.WithConfig(func(c *server.Config) { c.FailedAttemptsPerMinute = 1 }))
	c := newCLI(t, s.URL)
	var r *result
	for range 5 {
		if r = c.run("wrong password\n", nil, "login", "--email", kwtest.AdminEmail); strings.Contains(r.stderr, "too many") {
			break
		}
	}
	if r.code != 1 || !regexp.MustCompile(`^keyward: too many failed attempts; try again in (1 second|[0-9]+ seconds)\n$`).MatchString(r.stderr) {
		t.Fatalf("want the wait in seconds, in words: %s", r)
	}
}

// closedPort returns the URL of a local port that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServerAddressMistakes(t *testing.T) {
	c := newCLI(t, "")
	addr := closedPort(t)
	// A server that is down is not a server that is not configured.
	c.oneLine(1, "keyward: the keyward server at http://"+addr+" is not answering (connection refused): is 'keyward serve' running there?",
		[]string{"KEYWARD_SERVER=http://" + addr}, "permissions")
	// Without a scheme, a local address is http; another is refused rather than guessed.
	c.oneLine(1, "keyward: the keyward server at http://"+addr+" is not answering (connection refused): is 'keyward serve' running there?",
		[]string{"KEYWARD_SERVER=" + addr}, "permissions")
	c.oneLine(2, `keyward: KEYWARD_SERVER: "auth.example.com" has no scheme: write https://auth.example.com (or http:// if that server does not use TLS)`,
		[]string{"KEYWARD_SERVER=auth.example.com"}, "permissions")
	c.oneLine(2, `keyward: --server: "ftp://auth.example.com" is not an http or https URL such as https://auth.example.com`,
		nil, "login", "--server", "ftp://auth.example.com", "--email", "a@example.test")

	refused := &url.Error{Op: "Get", URL: defaultServer, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	if got, want := explain(refused, defaultServer).Error(), "no keyward server answers at "+defaultServer+", the default: start one with 'keyward serve', or set KEYWARD_SERVER to your server's URL"; got != want {
		t.Errorf("with no server configured:\n got %s\nwant %s", got, want)
	}
}

func TestKeysDeleteFindsTheKeysProject(t *testing.T) {
	_, c := signedIn(t)
	c.ok("projects", "create", "web-shop")
	create := func(project, name string) string {
		t.Helper()
		key := strings.TrimSpace(c.ok("keys", "create", "--project", project, "--name", name, "--permissions", "containers-view").stdout)
		id, err := apikey.Parse(key)
		if err != nil {
			t.Fatalf("keys create printed %q: %v", key, err)
		}
		return id
	}
	byID, byName := create("web-shop", "deploy"), create("web-shop", "ci")
	create("default", "ci")

	// A user in several projects who names none is told which there are.
	c.oneLine(2, "keyward: give --project (or KEYWARD_PROJECT): you belong to 2 projects (default, web-shop)", nil, "keys", "list")

	// An id is global: no project needed.
	if r := c.ok("keys", "delete", byID); !strings.Contains(r.stdout, "Deleted API key "+byID+" from project web-shop") {
		t.Errorf("keys delete ID: %s", r)
	}
	// A name that two projects use needs one; a name that one project uses does not.
	c.oneLine(2, `keyward: keys delete: projects default, web-shop each have a key named "ci": give --project, or the key's id`, nil, "keys", "delete", "ci")
	if r := c.ok("keys", "delete", "ci", "--project", "web-shop"); !strings.Contains(r.stdout, "Deleted API key "+byName) {
		t.Errorf("keys delete NAME --project: %s", r)
	}
	c.ok("keys", "delete", "ci")
	c.oneLine(1, `keyward: none of your projects has an API key with id or name "ci"`, nil, "keys", "delete", "ci")
}

// TestLoginRefusalNamesTheServer: a refused login says which server refused it (the stored
// login's may not be the one meant), and a server reached under another name than its issuer
// URL is told in the command line's terms.
func TestLoginRefusalNamesTheServer(t *testing.T) {
	s := startServer(t)
	c := newCLI(t, "")
	r := c.run("wrong password\n", nil, "login", "--server", s.URL, "--email", kwtest.AdminEmail)
	if want := "keyward: " + s.URL + " refused the login: The email address or password is wrong. (invalid_grant)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("want exit 1 and %q: %s", want, r)
	}
	other := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	r = c.run(kwtest.AdminPassword+"\n", nil, "login", "--server", other, "--email", kwtest.AdminEmail)
	want := "keyward: the server at " + other + " calls itself " + s.URL + ": use that issuer URL as the server's URL\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("want exit 1 and %q: %s", want, r)
	}
}

func TestRolesCommandLineMistakesGetOneLine(t *testing.T) {
	c := newCLI(t, "")
	c.oneLine(2, `keyward roles create: unknown flag --permisions (did you mean --permissions?); 'keyward roles create -h' lists the flags`, nil,
		"roles", "create", "release", "--permisions", "images-view")
	c.oneLine(2, `keyward roles: unknown command "lsit" (did you mean list?); 'keyward roles -h' lists the commands`, nil, "roles", "lsit")
	c.oneLine(2, `keyward: unknown command "rolse" (did you mean roles?); 'keyward -h' lists the commands`, nil, "rolse")
	c.oneLine(2, `keyward roles list: --limit: "all" is not a whole number; use a value such as 10`, nil, "roles", "list", "--limit", "all")
	c.oneLine(2, `keyward: roles list: give --limit or --all, not both`, nil, "roles", "list", "--limit", "5", "--all")
	c.oneLine(2, `keyward: roles edit: nothing to change: give --name, --permissions or --description`, nil, "roles", "edit", "release")
	c.oneLine(2, `keyward: roles: give a command: list, create, edit or delete ('keyward roles -h' shows how)`, nil, "roles")
	c.oneLine(2, `keyward keys edit: unknown flag --norole (did you mean --no-role?); 'keyward keys edit -h' lists the flags`, nil,
		"keys", "edit", "deploy", "--norole")
	c.oneLine(2, `keyward: keys edit: --role needs a role's name or id; --no-role takes the key's role away`, nil, "keys", "edit", "deploy", "--role", " ")
	c.oneLine(2, `keyward: keys create: --permissions or --role is required (see 'keyward permissions' and 'keyward roles list')`, nil,
		"keys", "create", "--name", "ci")
	if r := c.run("", nil, "roles", "edit", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-permissions") || !strings.Contains(r.stderr, "ends\nthe sessions") {
		t.Errorf("roles edit -h: %s", r)
	}
}
