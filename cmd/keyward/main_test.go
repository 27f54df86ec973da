package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyward/keyward/internal/kwtest"
	"github.com/keyward/keyward/internal/proctest"
)

// keywardBin is the real binary, built once for the tests that run it as a process.
var keywardBin string

func TestMain(m *testing.M) {
	bin, err := proctest.Build("./cmd/keyward")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keywardBin = bin
	code := m.Run()
	proctest.Clean()
	os.Exit(code)
}

// serve starts `keyward serve --db sqlite:DB ARGS…` on a port it binds itself, with env added to
// a clean environment, and waits until /readyz answers 200.
func serve(t *testing.T, db string, args []string, env ...string) *proctest.Process {
	t.Helper()
	s := proctest.ServeSpec(keywardBin, append([]string{"--db", "sqlite:" + db}, args...)...)
	s.Env = env
	return proctest.Start(t, s)
}

// stop sends sig and waits for the process to end, returning its exit code (-1 when a signal
// ended it).
func stop(t *testing.T, p *proctest.Process, sig syscall.Signal) int {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	code, err := p.ExitCode(time.Minute)
	if err != nil {
		t.Fatalf("after %v: %v", sig, err)
	}
	return code
}

func clientOf(p *proctest.Process) *kwtest.Client { return kwtest.NewClient("http://" + p.Addr()) }

var printedPassword = regexp.MustCompile(`password:\s+(\S+)`)

func TestFirstStartPrintsTheGeneratedAdminPasswordOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	first := serve(t, db, nil)
	m := printedPassword.FindStringSubmatch(first.Stdout())
	if m == nil {
		t.Fatalf("first start printed no admin password; stdout:\n%s", first.Stdout())
	}
	pw := m[1]
	if strings.Contains(first.Stderr(), pw) {
		t.Error("the generated password also went to the log")
	}
	clientOf(first).Login(t, "admin@keyward.localhost", pw, "default")
	if code := stop(t, first, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}

	second := serve(t, db, nil)
	if out := second.Logs(); strings.Contains(out, pw) || printedPassword.MatchString(second.Stdout()) {
		t.Errorf("the second start printed a password again:\n%s", out)
	}
	clientOf(second).Login(t, "admin@keyward.localhost", pw, "")
	if code := stop(t, second, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
}

func TestAdminFromEnvironment(t *testing.T) {
	const email, password = "ops@example.test", "an-operator-chose-this-password-9"
	p := serve(t, filepath.Join(t.TempDir(), "k.db"), nil, "KEYWARD_ADMIN_EMAIL="+email, "KEYWARD_ADMIN_PASSWORD="+password)
	c := clientOf(p)
	c.Login(t, strings.ToUpper(email), password, "default")
	r := c.TokenRequest(t, url.Values{"grant_type": {"password"}, "username": {"admin@keyward.localhost"}, "password": {password}})
	kwtest.RequireOAuthError(t, r, http.StatusBadRequest, "invalid_grant")
	if out := p.Logs(); strings.Contains(out, password) {
		t.Errorf("the configured password was printed:\n%s", out)
	}
	if code := stop(t, p, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
}

// TestCrashRecovery kills the server with SIGKILL in the middle of key creation, exchanges and
// refreshes, restarts it on the same database, and checks that nothing acknowledged was lost:
// every key whose creation answered 201 exchanges, every refresh token handed out and not yet
// presented refreshes exactly once, and the database file is intact.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills the real binary")
	}
	const email, password = "ops@example.test", "an-operator-chose-this-password-9"
	env := []string{"KEYWARD_ADMIN_EMAIL=" + email, "KEYWARD_ADMIN_PASSWORD=" + password}
	db := filepath.Join(t.TempDir(), "k.db")
	// Every refresh token is presented twice after the restart, on purpose: the second is reuse,
	// a failed attempt that the default limit would soon throttle.
	args := []string{"--failed-attempts-per-minute", "1000000"}
	p := serve(t, db, args, env...)
	c := clientOf(p)
	admin := c.Login(t, email, password, "").AccessToken

	var (
		mu       sync.Mutex
		keys     []string            // creation answered 201
		unspent  = map[string]bool{} // refresh tokens handed out and never presented
		inFlight int                 // refreshes whose outcome the crash hid
		created  int
		rounds   int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	const formType = "application/x-www-form-urlencoded"
	for w := range 2 {
		wg.Go(func() { // creates keys
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf(`{"name":"crash-%d-%d","permissions":["images-view"]}`, w, i)
				r, err := c.Send(http.MethodPost, "/v1/projects/default/api-keys", strings.NewReader(body),
					kwtest.Bearer(admin), kwtest.Header("Content-Type", "application/json"))
				if err != nil {
					return
				}
				if r.Status != http.StatusCreated {
					t.Errorf("create key: %s", r)
					return
				}
				var k kwtest.Key
				if err := json.Unmarshal(r.Body, &k); err != nil || k.Secret == "" {
					t.Errorf("create key answered %s", r)
					return
				}
				mu.Lock()
				keys = append(keys, k.Secret)
				created++
				mu.Unlock()
			}
		})
	}
	for range 2 {
		wg.Go(func() { // exchanges keys and refreshes their tokens
			for i := 0; ctx.Err() == nil; i++ {
				mu.Lock()
				var key, refresh string
				if len(keys) > 0 {
					key = keys[i%len(keys)]
				}
				if i%2 == 1 {
					for tok := range unspent {
						refresh = tok
						delete(unspent, tok) // presented from here on: its fate may be unknown
						inFlight++
						break
					}
				}
				rounds++
				mu.Unlock()
				var body string
				switch {
				case refresh != "":
					body = "grant_type=refresh_token&refresh_token=" + refresh
				case key != "":
					body = "grant_type=client_credentials&client_secret=" + key
				default:
					time.Sleep(5 * time.Millisecond)
					continue
				}
				r, err := c.Send(http.MethodPost, "/oauth/token", strings.NewReader(body), kwtest.Header("Content-Type", formType))
				if err != nil {
					return
				}
				if r.Status != http.StatusOK {
					t.Errorf("token request: %s", r)
					return
				}
				var tok kwtest.Token
				if err := json.Unmarshal(r.Body, &tok); err != nil || tok.RefreshToken == "" {
					t.Errorf("token response: %s", r)
					return
				}
				mu.Lock()
				if refresh != "" {
					inFlight--
				}
				unspent[tok.RefreshToken] = true
				mu.Unlock()
			}
		})
	}

	// Let the load build up, then kill the server in the middle of it.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		enough := len(keys) >= 50 && len(unspent) >= 50
		mu.Unlock()
		if enough {
			break
		}
	}
	p.Kill()
	cancel()
	wg.Wait()
	mu.Lock()
	t.Logf("before the crash: %d keys created, %d token requests, %d refresh tokens unspent, %d refreshes cut off",
		created, rounds, len(unspent), inFlight)
	if len(keys) < 5 || len(unspent) < 5 {
		t.Fatalf("the load was too small to prove anything: %d keys, %d refresh tokens", len(keys), len(unspent))
	}
	mu.Unlock()

	p2 := p.RestartT(t) // the same address, so the same issuer
	c2 := clientOf(p2)
	if r := c2.API(t, http.MethodGet, "/v1/me", admin, nil); r.Status != http.StatusOK {
		t.Errorf("an access token issued before the crash no longer works: %s", r)
	}
	if out := p2.Stdout(); printedPassword.MatchString(out) {
		t.Errorf("the restart printed an admin password:\n%s", out)
	}
	for _, key := range keys {
		r := c2.TokenRequest(t, url.Values{"grant_type": {"client_credentials"}, "client_secret": {key}})
		if r.Status != http.StatusOK {
			t.Errorf("a key acknowledged with 201 before the crash does not exchange: %s", r)
		}
	}
	for tok := range unspent {
		kwtest.RequireToken(t, c2.Refresh(t, tok))
		kwtest.RequireOAuthError(t, c2.Refresh(t, tok), http.StatusBadRequest, "invalid_grant")
	}
	if code := stop(t, p2, syscall.SIGTERM); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}

	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var result string
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil || result != "ok" {
		t.Errorf("PRAGMA integrity_check: %q, %v", result, err)
	}
	rows, err := conn.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("PRAGMA foreign_key_check found rows whose parent is missing")
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(keywardBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "keyward ") {
		t.Errorf("keyward version: %v %q", err, out)
	}
	err = exec.Command(keywardBin, "no-such-command").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("an unknown command: want exit status 2, got %v", err)
	}
}

// With --addr HOST:0 the kernel chooses the port, and the default issuer must name that port:
// tokens and metadata naming port 0 would point every client at a server that does not exist.
func TestDefaultIssuerNamesTheBoundPort(t *testing.T) {
	p := serve(t, filepath.Join(t.TempDir(), "k.db"), nil)
	if got, want := clientOf(p).Metadata(t).Issuer, "http://"+p.Addr(); got != want {
		t.Errorf("issuer %q, want %q", got, want)
	}
}

// TestMetricsListener: with --metrics-addr, /metrics is served there and no longer on the main
// listener; without it, the main listener serves it as before. The start line names the database.
func TestMetricsListener(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b.String()
	}

	db := filepath.Join(t.TempDir(), "k.db")
	p := serve(t, db, []string{"--metrics-addr", "127.0.0.1:0"})
	metricsAddr := p.LoggedAddr("serving metrics")
	if metricsAddr == "" || metricsAddr == p.Addr() {
		t.Fatalf("no metrics listener of its own in the log:\n%s", p.Logs())
	}
	if code, body := get("http://" + metricsAddr + "/metrics"); code != http.StatusOK || !strings.Contains(body, "keyward_http_requests_total") {
		t.Errorf("metrics listener: %d\n%.300s", code, body)
	}
	if code, _ := get("http://" + p.Addr() + "/metrics"); code != http.StatusNotFound {
		t.Errorf("main listener with --metrics-addr: /metrics answered %d, want 404", code)
	}
	if !regexp.MustCompile(`msg="keyward serving" addr=\S+ .*database=` + regexp.QuoteMeta(db)).MatchString(p.Logs()) {
		t.Errorf("the start line does not name the database %s:\n%s", db, p.Logs())
	}
	stop(t, p, syscall.SIGTERM)

	p = serve(t, db, nil)
	if code, body := get("http://" + p.Addr() + "/metrics"); code != http.StatusOK || !strings.Contains(body, "keyward_http_requests_total") {
		t.Errorf("main listener without --metrics-addr: %d\n%.300s", code, body)
	}
}

// TestServeStartMistakes: mistakes in how serve is started end it at once with one line.
func TestServeStartMistakes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, nil, "give --issuer"},
		{nil, []string{"KEYWARD_ADMIN_EMAIL=not-an-email"}, `keyward: KEYWARD_ADMIN_EMAIL "not-an-email": Enter a plain email address such as ada@example.com.`},
		{[]string{"--db", "sqlite:" + filepath.Join(dir, "typo", "k.db"), "--db-wait", "1h"}, nil, "does not exist"},
		{[]string{"--metrics-addr", "203.0.113.1:9"}, nil, "keyward: --metrics-addr 203.0.113.1:9: this machine has no such address"},
		{[]string{"--smtp-url", "smtp://bot:s3cret@mail.example.com?from=kw@example.com"}, nil, "set KEYWARD_SMTP_URL instead"},
		{nil, []string{"KEYWARD_SMTP_URL=smtp://bot:s3cret@mail.example.com"}, "keyward: --smtp-url: the SMTP URL needs ?from="},
	} {
		args := append([]string{"serve", "--db", "sqlite:" + filepath.Join(dir, "k.db")}, tc.args...)
		cmd := exec.Command(keywardBin, args...)
		cmd.Env = append(proctest.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		last := lines[len(lines)-1]
		if err == nil || !strings.Contains(last, tc.want) || !strings.HasPrefix(last, "keyward: ") || strings.Contains(string(out), "s3cret") {
			t.Errorf("keyward %s: %v, last line %q, want %q\n%s", strings.Join(args, " "), err, last, tc.want, out)
		}
	}
}
