package middleware

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package importable by any platform's API without pulling in the
// authorization server: only the standard library and go-jose, in the build that users get
// (tests excluded).
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var n int
	for _, pkg := range strings.Fields(string(out)) {
		n++
		// clientip, accesstoken and revocation are keyward's own public packages, shared so that
		// the server and the middleware judge a client's address and a token, and name revoked
		// sessions and keys, by the same rules. Their own dependencies are listed here too, so
		// this also keeps them light.
		switch {
		case pkg == "github.com/keyward/keyward/middleware", pkg == "github.com/keyward/keyward/clientip",
			pkg == "github.com/keyward/keyward/accesstoken", pkg == "github.com/keyward/keyward/revocation",
			strings.HasPrefix(pkg, "github.com/go-jose/go-jose/v4"):
			continue
		}
		t.Errorf("middleware depends on %s; only the standard library, go-jose, keyward/clientip, keyward/accesstoken and keyward/revocation are allowed", pkg)
	}
	if n == 0 {
		t.Fatal("go list listed nothing; the check would pass vacuously")
	}
}
