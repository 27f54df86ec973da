package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyward/keyward/bench/internal/proc"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/token"
	"github.com/keyward/keyward/middleware"
)

// benchPermissions are the bench keys' permissions: what a deployment pipeline's key typically
// holds. They set the size of the scope claim, and so of every token.
var benchPermissions = []string{"containers-view", "containers-manage", "images-view", "images-manage"}

// keywardProc is one keyward server under test.
type keywardProc struct {
	*proc.Proc
	base       string // http://127.0.0.1:PORT
	logPath    string
	profileURL string // set when built with the profiling hook
	email      string
	password   string
	// tokens verifies the access tokens this instance issues: each instance is its own issuer.
	tokens *middleware.Verifier
}

// stop stops the process and the verifier of its tokens.
func (kw *keywardProc) stop() {
	if kw.tokens != nil {
		kw.tokens.Close()
	}
	kw.Proc.Stop()
}

// setupSpec is one configuration to measure: a database and how many keyward processes share it.
type setupSpec struct {
	db        string // postgres://…, or "" for SQLite in the bench's temporary folder
	instances int
}

// kind names the setup in reports: "SQLite", "PostgreSQL" or "PostgreSQL, 2 instances".
func (s setupSpec) kind() string {
	k := "SQLite"
	if s.db != "" {
		k = "PostgreSQL"
	}
	if s.instances > 1 {
		k += fmt.Sprintf(", %d instances", s.instances)
	}
	return k
}

// credentials are shared by every process the bench starts, so that a process started later (a
// second instance, the next setup on the same PostgreSQL database) finds the admin and the sealed
// signing keys it expects. A reused database needs those of its first start, from the environment.
type credentials struct {
	email, password, master string
}

func newCredentials() (credentials, error) {
	c := credentials{email: envOr("KEYWARD_ADMIN_EMAIL", "bench@keyward.localhost"),
		password: os.Getenv("KEYWARD_ADMIN_PASSWORD"), master: os.Getenv("KEYWARD_MASTER_KEY")}
	var err error
	if c.password == "" {
		if c.password, err = randomText(32); err != nil {
			return c, err
		}
	}
	if c.master == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return c, err
		}
		c.master = base64.StdEncoding.EncodeToString(b)
	}
	return c, nil
}

// startSetup runs spec's keyward processes, each on a free loopback port, and waits until every
// one answers /readyz with 200. The first carries the profiling hook when o asks for a profile.
func startSetup(ctx context.Context, bin, dir string, spec setupSpec, cred credentials, o *options) ([]*keywardProc, error) {
	var procs []*keywardProc
	stopAll := func() {
		for _, kw := range procs {
			kw.stop()
		}
	}
	for i := range spec.instances {
		kw, err := launchKeyward(bin, dir, spec, i, cred, o.profile != "" && i == 0)
		if err != nil {
			stopAll()
			return nil, err
		}
		procs = append(procs, kw)
	}
	for _, kw := range procs {
		err := kw.waitReady(ctx, 2*time.Minute)
		if err == nil {
			kw.tokens, err = tokenVerifier(ctx, kw.base)
		}
		if err != nil {
			stopAll()
			kw.dumpLog(os.Stderr)
			return nil, err
		}
	}
	return procs, nil
}

// launchKeyward starts `keyward serve` number i of spec.
func launchKeyward(bin, dir string, spec setupSpec, i int, cred credentials, profile bool) (*keywardProc, error) {
	addr, err := proc.FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	kw := &keywardProc{base: "http://" + addr, email: cred.email, password: cred.password,
		logPath: filepath.Join(dir, fmt.Sprintf("keyward-%d.log", i))}
	db := spec.db
	if db == "" {
		db = "sqlite:" + filepath.Join(dir, "k.db")
	}
	env := []string{"KEYWARD_ADMIN_EMAIL=" + cred.email, "KEYWARD_ADMIN_PASSWORD=" + cred.password}
	if spec.db != "" {
		env = append(env, "KEYWARD_MASTER_KEY="+cred.master)
	}
	if profile {
		paddr, err := proc.FreeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		env = append(env, "KEYWARD_BENCH_PROFILE_ADDR="+paddr)
		kw.profileURL = "http://" + paddr
	}
	logFile, err := os.Create(kw.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "serve", "--addr", addr, "--db", db)
	cmd.Env = proc.ChildEnv(env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if kw.Proc, err = proc.Start("keyward", cmd); err != nil {
		return nil, err
	}
	return kw, nil
}

func (kw *keywardProc) waitReady(ctx context.Context, limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := c.Get(kw.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-kw.Exited():
			return fmt.Errorf("keyward exited before it was ready: %v", kw.Err())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("keyward was not ready after %s", limit)
		}
	}
}

// dumpLog prints the end of keyward's log, which says why a run went wrong. keyward never logs a
// secret, and the bench passes the admin password through the environment, not the command line.
func (kw *keywardProc) dumpLog(w io.Writer) {
	data, err := os.ReadFile(kw.logPath)
	if err != nil || len(data) == 0 {
		return
	}
	fmt.Fprintf(w, "--- last lines of keyward's log ---\n%s---\n", proc.Tail(data, 40))
}

// benchKey is one API key created for the run.
type benchKey struct {
	id     string
	secret string
	basic  string // the Authorization header value, computed once
}

// setup is what the scenarios share.
type setup struct {
	keys       []benchKey
	template   token.Claims  // the claims of a real keyward token, which the ceiling imitates
	lifetime   time.Duration // of keyward's access tokens
	ceiling    *ceilingKeys
	tokenBytes int // length of keyward's access token
	adminToken string
}

// prepare logs in as the admin, creates the API keys and takes one real token apart, so that the
// ceiling signs claims of the same shape and size.
func prepare(ctx context.Context, kw *keywardProc, o *options, logf func(string, ...any)) (*setup, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: newTransport(4, nil)}
	defer c.CloseIdleConnections()
	s := &setup{}

	form := url.Values{"grant_type": {"password"}, "username": {kw.email}, "password": {kw.password}}
	status, body, err := send(ctx, c, http.MethodPost, kw.base+"/oauth/token", "application/x-www-form-urlencoded", "", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("admin login: HTTP %d: %s (a reused database needs KEYWARD_ADMIN_EMAIL and KEYWARD_ADMIN_PASSWORD of its first start)", status, clip(body))
	}
	var login client.TokenResponse
	if err := json.Unmarshal(body, &login); err != nil || login.AccessToken == "" {
		return nil, fmt.Errorf("admin login: no access_token in %s", clip(body))
	}

	s.adminToken = login.AccessToken

	runID, err := randomText(6)
	if err != nil {
		return nil, err
	}
	logf("creating %d API keys", o.keys)
	for i := range o.keys {
		req, _ := json.Marshal(map[string]any{
			"name":        fmt.Sprintf("bench-%s-%03d", runID, i),
			"permissions": benchPermissions,
		})
		status, body, err := send(ctx, c, http.MethodPost, kw.base+"/v1/projects/default/api-keys", "application/json", "Bearer "+login.AccessToken, bytes.NewReader(req))
		if err != nil {
			return nil, fmt.Errorf("create API key: %w", err)
		} else if status != http.StatusCreated {
			return nil, fmt.Errorf("create API key: HTTP %d, want 201: %s", status, clip(body))
		}
		var k struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		if err := json.Unmarshal(body, &k); err != nil || k.ID == "" || !strings.HasPrefix(k.Key, "kw_") {
			return nil, fmt.Errorf("create API key: no id and kw_ key in the answer")
		}
		s.keys = append(s.keys, benchKey{id: k.ID, secret: k.Key, basic: basicAuth(k.ID, k.Key)})
	}

	// One real exchange: its token is the model for the ceiling's claims.
	k := s.keys[0]
	status, body, err = send(ctx, c, http.MethodPost, kw.base+"/oauth/token", "application/x-www-form-urlencoded", k.basic, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return nil, fmt.Errorf("first exchange: %w", err)
	} else if status != http.StatusOK {
		return nil, fmt.Errorf("first exchange: HTTP %d: %s", status, clip(body))
	}
	tr, caller, err := checkKeywardAnswer(body, kw.tokens, k.id)
	if err != nil {
		return nil, fmt.Errorf("first exchange: %w", err)
	}
	// The middleware accepted the token for kw.base, its default audience too.
	s.template = token.Claims{Issuer: kw.base, Subject: caller.Subject, Audience: []string{kw.base}, ClientID: caller.ClientID,
		Scope: caller.Permissions, SessionID: caller.SessionID, Project: caller.Project}
	s.lifetime, s.tokenBytes = time.Duration(tr.ExpiresIn)*time.Second, len(tr.AccessToken)
	if s.ceiling, err = newCeilingKeys(ctx, s.lifetime, kw.base, kw.base); err != nil {
		return nil, err
	}
	return s, nil
}

// send does one request and returns the status and the whole body.
func send(ctx context.Context, c *http.Client, method, u, contentType, auth string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}

// basicAuth is the RFC 6749 §2.3.1 header: both parts form-encoded, then base64. Key ids and keys
// are base62, so the encoding changes nothing, but the bench follows the rule anyway.
func basicAuth(id, secret string) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// clip shortens an error body for a message. Error bodies never carry secrets.
func clip(b []byte) string {
	const max = 300
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// randomText returns n random base62 characters.
func randomText(n int) (string, error) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if b[0] < 248 { // 248 = 4*62: rejecting the rest keeps every character equally likely
			out = append(out, alphabet[b[0]%62])
		}
	}
	return string(out), nil
}

var errNoToken = errors.New("the answer holds no token")
