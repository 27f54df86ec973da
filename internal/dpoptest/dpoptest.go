// Package dpoptest helps test DPoP from the outside: it runs panva's oauth4webapi, a DPoP client
// nobody at keyward wrote, under Node (Run), and builds the proofs dpop.NewProof never would, for
// tests of what refuses them (Forge).
package dpoptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/internal/nodetest"
)

// clientDir is the folder of client.mjs and its node_modules, found from this file so that tests
// in any package can run it.
func clientDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "oauth4webapi")
}

// Config says whom the client asks and what it calls.
type Config struct {
	Issuer   string // keyward's issuer URL; the client discovers the token endpoint from it
	Key      string // the API key: its id is the client_id, the key itself the client secret
	Resource string // a protected URL the client GETs with each token
	Scope    string // optional, space-separated
}

// Result is what the client saw. A Run that failed has Error set and the rest as far as it got.
type Result struct {
	JKT           string   `json:"jkt"` // the thumbprint of the client's key pair, what cnf.jkt must name
	AlgsServed    []string `json:"dpop_signing_alg_values_supported"`
	Token         Token    `json:"token"`
	Refreshed     Token    `json:"refreshed"`
	Call          Call     `json:"call"`
	RefreshedCall Call     `json:"refreshed_call"`

	Error  string          `json:"error"`
	Code   string          `json:"code"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// Token is one token response, as the client processed it.
type Token struct {
	TokenType   string `json:"token_type"` // lower-cased by oauth4webapi: "dpop"
	Scope       string `json:"scope"`
	AccessToken string `json:"access_token"`
	Rotated     bool   `json:"rotated"` // for the refresh: a new refresh token came back
}

// Call is one protected request's answer.
type Call struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// Run runs the client once and returns what it printed. Without Node or the module the test is
// skipped, except in CI (CI=true), where it must run. A client that failed returns a Result with
// Error set; a client that printed nothing readable fails the test.
func Run(t testing.TB, c Config) *Result {
	t.Helper()
	nodetest.Require(t, clientDir(), "oauth4webapi", "the tests with a third-party DPoP client")
	id, err := apikey.Parse(c.Key)
	if err != nil {
		t.Fatalf("dpoptest: the key is malformed: %v", err)
	}
	config, err := json.Marshal(map[string]string{
		"issuer": c.Issuer, "client_id": id, "client_secret": c.Key, "resource": c.Resource, "scope": c.Scope,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs")
	cmd.Dir = clientDir()
	cmd.Env = append(os.Environ(), "DPOPTEST_CONFIG="+string(config))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("dpoptest: oauth4webapi printed no result (%v):\n%s%s", runErr, stdout.String(), stderr.String())
	}
	if runErr != nil && r.Error == "" {
		r.Error = fmt.Sprintf("%v: %s", runErr, stderr.String())
	}
	return &r
}
