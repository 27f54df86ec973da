package keyward_test

import (
	"os/exec"
	"strings"
	"testing"
)

// publicDeps lists what each public package may depend on besides the standard library: its
// own kind, never internal/, a database driver or the server. Users import these packages into
// their own programs, and the middleware and the server share clientip, accesstoken and
// revocation so that both judge a client's address and a token, and name revoked sessions and
// keys, by the same rules. An entry ending in "/" allows everything below it.
var publicDeps = map[string][]string{
	"./apikey":      {"github.com/keyward/keyward"},
	"./apikey/scan": {"github.com/keyward/keyward", "github.com/keyward/keyward/apikey"},
	"./clientip":    {},
	"./revocation":  {},
	"./accesstoken": {"github.com/keyward/keyward/clientip", "github.com/go-jose/go-jose/v4/"},
	"./dpop":        {"github.com/keyward/keyward/accesstoken", "github.com/keyward/keyward/clientip", "github.com/go-jose/go-jose/v4/"},
	"./middleware": {"github.com/keyward/keyward/clientip", "github.com/keyward/keyward/accesstoken", "github.com/keyward/keyward/dpop",
		"github.com/keyward/keyward/revocation", "github.com/go-jose/go-jose/v4/"},
	"./client": {"github.com/keyward/keyward", "github.com/keyward/keyward/apikey", "golang.org/x/oauth2/",
		"github.com/keyward/keyward/dpop", "github.com/keyward/keyward/accesstoken", "github.com/keyward/keyward/clientip", "github.com/go-jose/go-jose/v4/"},
}

// TestPublicDependencies checks publicDeps in the build users get (tests excluded).
func TestPublicDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	for pkg, allowed := range publicDeps {
		t.Run(strings.TrimPrefix(pkg, "./"), func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatal("go list listed nothing; the check would pass vacuously")
			}
			self := "github.com/keyward/keyward/" + strings.TrimPrefix(pkg, "./")
			for _, d := range deps {
				if d != self && !allows(allowed, d) {
					t.Errorf("%s depends on %s; allowed besides the standard library: %v", pkg, d, allowed)
				}
			}
		})
	}
}

func allows(allowed []string, dep string) bool {
	for _, a := range allowed {
		if dep == a || strings.HasSuffix(a, "/") && (dep == strings.TrimSuffix(a, "/") || strings.HasPrefix(dep, a)) {
			return true
		}
	}
	return false
}
