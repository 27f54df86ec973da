package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/internal/kwtest"
)

// TestLoginWebApprovedInBrowser: `keyward login --web` prints a link and a code; the admin opens
// the link in Chromium, signs in to the dashboard, sees the same code and approves; the CLI then
// holds a login that works.
func TestLoginWebApprovedInBrowser(t *testing.T) {
	browser := chromium(t)
	s := startServer(t)
	c := newCLI(t, s.URL)
	// The server's clock follows the real one while the CLI polls, so that its polls come at the
	// interval the server asked for.
	stopClock := make(chan struct{})
	defer close(stopClock)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopClock:
				return
			case <-tick.C:
				s.Clock.Advance(time.Second)
			}
		}
	}()

	cmd := exec.Command(keywardBin, "login", "--web")
	cmd.Env = append(cleanEnv(), c.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var link strings.Builder
	printed := &lockedBuilder{}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		printed.WriteString(lines.Text() + "\n")
		if l := strings.TrimSpace(lines.Text()); strings.HasPrefix(l, s.URL+"/device?user_code=") {
			link.WriteString(l)
			break
		}
	}
	if link.Len() == 0 {
		t.Fatalf("no verification link printed:\n%s", printed.String())
	}
	go func() {
		for lines.Scan() {
			printed.WriteString(lines.Text() + "\n")
		}
	}()
	code := strings.TrimPrefix(link.String(), s.URL+"/device?user_code=")

	// Signed out, the link leads through the sign-in form and back to the code.
	clickAndLoad := func(xpath string) {
		t.Helper()
		if _, err := chromedp.Run(browser, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(xpath))); err != nil {
			t.Fatalf("click %s: %v\nCLI printed:\n%s", xpath, err, printed.String())
		}
	}
	if err := chromedp.Do(browser,
		chromedp.Navigate(link.String()),
		chromedp.Focus(`//*[@id="email"]`), chromedp.KeyEvent(kwtest.AdminEmail),
		chromedp.Focus(`//*[@id="password"]`), chromedp.KeyEvent(kwtest.AdminPassword),
	); err != nil {
		t.Fatalf("the sign-in form: %v", err)
	}
	clickAndLoad(`//button[normalize-space(.)="Sign in"]`)
	if err := chromedp.Do(browser, chromedp.WaitVisible(`//button[normalize-space(.)="Approve"]`)); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	clickAndLoad(`//button[normalize-space(.)="Approve"]`)
	if after, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`)); err != nil || !strings.Contains(after, "Approved") {
		t.Fatalf("after Approve the page reads %q (%v)", after, err)
	}
	if !strings.Contains(shown, code) || !strings.Contains(shown, "keyward-cli") {
		t.Errorf("the approval page does not show the code %s and the program: %q", code, shown)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("login --web: %v\nstdout: %s\nstderr: %s", err, stdout.String(), printed.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("login --web did not finish after the approval\nstderr: %s", printed.String())
	}
	t.Logf("login --web took %s from start to tokens", time.Since(started).Round(time.Millisecond))
	if want := "Logged in to " + s.URL + " as " + kwtest.AdminEmail + "."; !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if r := c.ok("projects", "list"); !strings.Contains(r.stdout, "default") {
		t.Errorf("projects list after login --web: %s", r)
	}
}

// cleanEnv is the environment without the KEYWARD_* variables and the home folders, as cli.run
// builds it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "KEYWARD_") && name != "HOME" && name != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	return env
}

// chromium starts a headless Chromium for the test, or skips it when there is none (outside CI).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("KEYWARD_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s (set KEYWARD_CHROMIUM)", path)
		}
		t.Skipf("Chromium not found at %s (set KEYWARD_CHROMIUM to run the browser test)", path)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// lockedBuilder collects what the CLI prints while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
