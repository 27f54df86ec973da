package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// One Chromium serves the whole package; every test gets its own tab in its own browser context
// (its own cookies), so tests cannot see each other's sessions.
var chromium struct {
	once    sync.Once
	ctx     context.Context
	err     error
	cancel  func()
	dataDir string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chromium.cancel != nil {
		chromium.cancel()
	}
	if chromium.dataDir != "" {
		os.RemoveAll(chromium.dataDir)
	}
	os.Exit(code)
}

// chromiumPath is Debian's chromium, or KEYWARD_CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("KEYWARD_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// tab is one browser tab driven the way a person uses the dashboard: by labels, button texts and
// visible text.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// newTab opens a tab on e. Without Chromium the test is skipped, except in CI, where the browser
// tests must run.
func newTab(t *testing.T, e *env) *tab {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s (set KEYWARD_CHROMIUM); the browser tests must run in CI", path)
		}
		t.Skipf("Chromium not found at %s (set KEYWARD_CHROMIUM to run the browser tests)", path)
	}
	chromium.once.Do(func() {
		chromium.dataDir, chromium.err = os.MkdirTemp("", "keyward-chromium-")
		if chromium.err != nil {
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			// A closed network refuses what these would fetch, and the refusals are slow.
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(chromium.dataDir),
			chromedp.WindowSize(1280, 900),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(allocCtx)
		chromium.ctx = ctx
		chromium.cancel = func() { cancelCtx(); cancelAlloc() }
		chromium.err = chromedp.Do(ctx) // starts the browser
	})
	if chromium.err != nil {
		t.Fatalf("start Chromium: %v", chromium.err)
	}
	ctx, cancel := chromedp.NewContext(chromium.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	tb := &tab{t: t, ctx: tctx, base: e.URL}
	// Chrome shows no alert in headless mode, but a script that runs because a name was not
	// escaped would open one: any dialog fails the test.
	dialogs := chromedp.Events(tctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("the page opened a JavaScript %s dialog: %q", ev.Type, ev.Message)
			_, _ = chromedp.Call(tctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	tb.do(chromedp.EmulateViewport(1280, 900))
	// The Copy button writes to the clipboard; the test reads it back like a paste.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(tctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: e.URL,
			BrowserContextID: chromedp.FromContext(tctx).BrowserContextID,
		})
		if err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	return tb
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// open loads a path of the dashboard and returns the response's headers.
func (b *tab) open(path string) *network.Response {
	b.t.Helper()
	return run(b, chromedp.NavigateResponse(b.base+path))
}

// xq quotes s as an XPath string literal.
func xq(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// control finds the form control that the label with this text (its own text, before any
// "optional" marker) names.
func control(label string) string {
	return fmt.Sprintf(`//*[@id=//label[normalize-space(text()[1])=%s]/@for]`, xq(label))
}

// button finds a visible button or link with this text, as a person would look for it.
func button(text string) string {
	return fmt.Sprintf(`//*[self::button or self::a][normalize-space(.)=%s]`, xq(text))
}

// fill types value into the field labelled label, replacing what it held.
func (b *tab) fill(label, value string) {
	b.t.Helper()
	b.fillAt(control(label), value)
}

// fillAt types value into the control sel finds, replacing what it held: for a form whose labels
// repeat on its page.
func (b *tab) fillAt(sel, value string) {
	b.t.Helper()
	// Like a person: into the field, select what it holds, type over it.
	b.do(chromedp.Focus(sel), chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`), chromedp.KeyEvent(kb.Delete))
	if value != "" {
		b.do(chromedp.KeyEvent(value))
	}
}

// check ticks the checkbox labelled label.
func (b *tab) check(label string) {
	b.t.Helper()
	b.do(chromedp.Click(control(label)))
}

// press clicks the button or link with this text and waits for the page it leads to.
func (b *tab) press(text string) {
	b.t.Helper()
	b.pressAt(button(text))
}

// pressAt clicks the element sel finds and waits for the next page to load.
func (b *tab) pressAt(sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// text is what a person reads on the page.
func (b *tab) text() string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](`document.body.innerText`))
}

// see fails unless every one of texts is on the page.
func (b *tab) see(texts ...string) {
	b.t.Helper()
	body := b.text()
	for _, s := range texts {
		if !strings.Contains(body, s) {
			b.t.Fatalf("the page does not say %q; it reads:\n%s", s, body)
		}
	}
}

// notSee fails if any of texts is on the page.
func (b *tab) notSee(texts ...string) {
	b.t.Helper()
	body := b.text()
	for _, s := range texts {
		if strings.Contains(body, s) {
			b.t.Fatalf("the page says %q; it reads:\n%s", s, body)
		}
	}
}

// count returns how many elements match an XPath expression.
func (b *tab) count(xpath string) int {
	b.t.Helper()
	return run(b, chromedp.Evaluate[int](fmt.Sprintf(
		`document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`, xpath)))
}

// login signs in through the form, as a person would.
func (b *tab) login(email, pw string) {
	b.t.Helper()
	b.open("/")
	b.see("Sign in to keyward")
	b.fill("Email address", email)
	b.fill("Password", pw)
	b.press("Sign in")
	b.see("Projects", email)
}

// screenshot returns a PNG of the whole page.
func (b *tab) screenshot() []byte {
	b.t.Helper()
	return run(b, chromedp.FullScreenshot(100))
}

// checkPage checks what every page must have: a label on every form control, a text on every
// button, and no horizontal scrolling at the current width.
func (b *tab) checkPage() {
	b.t.Helper()
	problems := run(b, chromedp.Evaluate[[]string](`(() => {
		const out = [];
		for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
			if (!el.labels || el.labels.length === 0 || !el.labels[0].innerText.trim()) {
				out.push('control without a label: ' + el.outerHTML.slice(0, 80));
			}
		}
		for (const el of document.querySelectorAll('button, a')) {
			if (el.closest('dialog:not([open])') || el.hidden) continue;
			if (!(el.getAttribute('aria-label') || el.innerText).trim()) {
				out.push('button or link without a text: ' + el.outerHTML.slice(0, 80));
			}
		}
		if (document.documentElement.scrollWidth > window.innerWidth) {
			out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + 'px wide in a ' + window.innerWidth + 'px window');
		}
		return out;
	})()`))
	for _, p := range problems {
		b.t.Errorf("%s: %s", run(b, chromedp.Location()), p)
	}
}
