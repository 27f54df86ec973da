package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the client free of the server: no internal package, no database driver.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{"github.com/keyward/keyward", "github.com/keyward/keyward/apikey", "github.com/keyward/keyward/client"}
	var n int
	for _, pkg := range strings.Fields(string(out)) {
		n++
		if strings.HasPrefix(pkg, "golang.org/x/oauth2") && !strings.Contains(pkg, "keyward") {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || pkg == a
		}
		if !ok {
			t.Errorf("client depends on %s; only the standard library, golang.org/x/oauth2, the root package and apikey are allowed", pkg)
		}
	}
	if n == 0 {
		t.Fatal("go list listed nothing; the check would pass vacuously")
	}
}
