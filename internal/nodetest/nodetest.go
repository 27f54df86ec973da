// Package nodetest lets tests run the Node programs keyward is checked against (an OpenID
// provider, a DPoP client, a webhook receiver): it skips a test where Node or a program's modules
// are missing, and fails it instead in CI, where every such test must run.
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Available tells why the program in dir cannot run here, or "" when it can: Node on PATH and
// module installed in dir's node_modules.
func Available(dir, module string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not installed"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module, "package.json")); err != nil {
		return module + " is not installed (npm ci --prefix " + fromRoot(dir) + ")"
	}
	return ""
}

// Require skips t unless the program in dir can run (Available), or fails it when CI=true;
// tests names the tests that need it, for the message.
func Require(t testing.TB, dir, module, tests string) {
	t.Helper()
	why := Available(dir, module)
	switch {
	case why == "":
	case os.Getenv("CI") == "true":
		t.Fatalf("%s; %s must run in CI", why, tests)
	default:
		t.Skipf("%s: %s are skipped", why, tests)
	}
}

// fromRoot is dir relative to the module's root (the folder of go.mod), as the npm command
// that installs its modules is typed there.
func fromRoot(dir string) string {
	for root := dir; ; {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, dir); err == nil {
				return rel
			}
			return dir
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir
		}
		root = parent
	}
}
