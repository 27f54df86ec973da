package scan

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the scanner usable by any program: the standard library, the key format
// and the root package it builds on, in the build that users get (tests excluded); nothing of the
// server.
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
		switch pkg {
		case "github.com/keyward/keyward", "github.com/keyward/keyward/apikey", "github.com/keyward/keyward/apikey/scan":
		default:
			t.Errorf("apikey/scan depends on %s; only the standard library, apikey and the root package are allowed", pkg)
		}
	}
	if n == 0 {
		t.Fatal("go list listed nothing; the check would pass vacuously")
	}
}
