package clustertest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/clustertest"
	"github.com/keyward/keyward/internal/pgtest"
)

// TestNginxDeployment runs deploy/nginx/run.sh: the repository's nginx configuration in front of
// three instances, with a token flow through it. It skips where nginx is not installed, except in
// CI, which installs it.
func TestNginxDeployment(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is not installed; .ci/run installs it")
		}
		t.Skip("nginx is not installed (apt-get install -y nginx)")
	}
	db := pgtest.Fresh(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "deploy", "nginx", "run.sh"))
	// Without the developer's KEYWARD_* variables, which every instance would read as flags.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") && !strings.HasPrefix(kv, "KEEP=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "KEYWARD_BIN="+clustertest.Binary(t), "KEYWARD_TEST_DB="+db.DSN(""))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nginx flow: ok") {
		t.Fatalf("deploy/nginx/run.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
