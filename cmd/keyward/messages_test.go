package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if r.code != 2 || strings.Count(r.stderr, "keyward:") != 1 || !strings.HasPrefix(r.stderr, "keyward: open database: Unsupported database") ||
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
