package accesstoken_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the package usable by any resource server: only the standard library,
// go-jose and keyward's clientip, in the build that users get (tests excluded).
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
		switch {
		case pkg == "github.com/keyward/keyward/accesstoken", pkg == "github.com/keyward/keyward/clientip",
			strings.HasPrefix(pkg, "github.com/go-jose/go-jose/v4"):
			continue
		}
		t.Errorf("accesstoken depends on %s; only the standard library, go-jose and keyward/clientip are allowed", pkg)
	}
	if n == 0 {
		t.Fatal("go list listed nothing; the check would pass vacuously")
	}
}
