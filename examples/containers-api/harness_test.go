package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

// The instance admin of every keyward the tests start.
const (
	adminEmail    = "admin@keyward.test"
	adminPassword = "correct-horse-battery-staple-42"
)

// Binaries the tests run as processes, built once: keyward from ./cmd/keyward (or the one named
// by KEYWARD_BIN, to test a build made elsewhere) and this example.
var keywardBin, apiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "containers-api-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		keywardBin = os.Getenv("KEYWARD_BIN")
		builds := [][2]string{{filepath.Join(dir, "containers-api"), "."}}
		if keywardBin == "" {
			keywardBin = filepath.Join(dir, "keyward")
			builds = append(builds, [2]string{keywardBin, "github.com/keyward/keyward/cmd/keyward"})
		}
		apiBin = builds[0][0]
		for _, b := range builds {
			if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b[1], err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// process is a running binary with its output collected.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs bin until the test ends, then stops it with SIGTERM (SIGKILL if it lingers).
func start(t testing.TB, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.out.String())
		}
	})
	return p
}

// waitReady polls url until it answers 200.
func (p *process) waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("the process exited before it was ready:\n%s", p.out.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30 s (last error %v):\n%s", url, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// environ is the test's environment without any KEYWARD_ setting, plus extra.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// keyward is a running keyward server with an admin session.
type keyward struct {
	URL     string
	Admin   *client.Client
	Default *client.Project // the project created on first start
}

// startKeyward runs `keyward serve` on a free port with a fresh SQLite database.
func startKeyward(t testing.TB, args ...string) *keyward {
	t.Helper()
	addr := freeAddr(t)
	url := "http://" + addr
	args = append([]string{"serve", "--addr", addr, "--issuer", url, "--db", "sqlite:" + filepath.Join(t.TempDir(), "keyward.db")}, args...)
	p := start(t, keywardBin, environ("KEYWARD_ADMIN_EMAIL="+adminEmail, "KEYWARD_ADMIN_PASSWORD="+adminPassword), args...)
	p.waitReady(t, url+"/readyz")
	ctx := context.Background()
	login, err := client.PasswordLogin(ctx, url, adminEmail, adminPassword, "")
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	admin := client.New(url, client.SessionTokenSource(ctx, client.SessionConfig{Server: url, Token: login.OAuth2()}))
	project, err := admin.Project(ctx, "default")
	if err != nil {
		t.Fatalf("default project: %v", err)
	}
	return &keyward{URL: url, Admin: admin, Default: project}
}

// createKey creates an API key in project and returns it with its secret.
func (k *keyward) createKey(t testing.TB, project, name string, ips []string, perms ...string) *client.Key {
	t.Helper()
	key, err := k.Admin.CreateKey(context.Background(), project, client.CreateKeyRequest{Name: name, IPs: ips, Permissions: perms})
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return key
}

// token exchanges a key for an access token.
func (k *keyward) token(t testing.TB, key *client.Key) string {
	t.Helper()
	resp, err := client.Exchange(context.Background(), client.Config{Server: k.URL, Key: key.Secret})
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return resp.AccessToken
}

// startAPI runs the example API against issuer and returns its URL.
func startAPI(t testing.TB, issuer string, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, apiBin, environ(), append([]string{"--issuer", issuer, "--addr", addr}, args...)...)
	url := "http://" + addr
	p.waitReady(t, url+"/healthz")
	return url
}

// apiCall is one request to the API with a bearer token (none when empty), from the default
// local address or from the given one.
type apiCall struct {
	method, url, token, body string
	from                     string // local address to bind, such as 127.0.0.2
}

type apiResponse struct {
	status    int
	challenge string
	body      string
}

func (c apiCall) do(t testing.TB) apiResponse {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	if c.from != "" {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}}
		hc.Transport = &http.Transport{DialContext: dialer.DialContext}
	}
	var body *strings.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(c.method, c.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return apiResponse{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate"), body: buf.String()}
}

func containersURL(api, project string) string {
	return api + "/v1/projects/" + project + "/containers"
}

// oauthClient is an HTTP client that sends the tokens of ts.
func oauthClient(ts oauth2.TokenSource) *http.Client {
	return oauth2.NewClient(context.Background(), ts)
}
