package main

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

func newKey(t testing.TB) (key, id string) {
	t.Helper()
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// lookalike returns key with its checksum broken: the shape of a key, but not one.
func lookalike(key string) string {
	last := key[len(key)-1]
	c := byte('A')
	if last == 'A' {
		c = 'B'
	}
	return key[:len(key)-1] + string(c)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// secretOf is the part of a key that must never be printed.
func secretOf(key string) string { return key[len(apikey.Prefix)+apikey.IDLength:] }

func requireNoSecret(t *testing.T, r *result, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(r.stdout+r.stderr, secretOf(k)) {
			t.Errorf("scan printed a key's secret: %s", r)
		}
	}
}

func TestScanFolders(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	key, id := newKey(t)
	fake := lookalike(key)
	ignored, ignoredID := newKey(t)
	writeFile(t, filepath.Join(dir, "deploy", "ci.env"), "# CI settings\nREGION=eu\nKEYWARD_API_KEY="+key+"\n")
	writeFile(t, filepath.Join(dir, "notes.md"), "a typo:\n`"+fake+"`\n")
	writeFile(t, filepath.Join(dir, ".git", "config"), ignored+"\n")
	writeFile(t, filepath.Join(dir, "app.bin"), "\x7fELF\x00\x00"+ignored)

	r := c.run("", nil, "scan", dir)
	if r.code != 1 {
		t.Fatalf("a folder with a key: want exit 1: %s", r)
	}
	want := filepath.Join(dir, "deploy", "ci.env") + ":3: key id " + id + "\n"
	if r.stdout != want {
		t.Errorf("stdout: want %q: %s", want, r)
	}
	if !strings.Contains(r.stderr, filepath.Join(dir, "notes.md")+":2: warning:") || !strings.Contains(r.stderr, "checksum") {
		t.Errorf("the look-alike is not warned about: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, ignoredID) {
		t.Errorf("scan looked into .git or a binary file: %s", r)
	}
	requireNoSecret(t, r, key, fake, ignored)

	// Only the look-alike: a warning, and success.
	r = c.run("", nil, "scan", filepath.Join(dir, "notes.md"), filepath.Join(dir, "app.bin"))
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "notes.md:2: warning:") {
		t.Errorf("only a look-alike: want exit 0 and a warning: %s", r)
	}
	requireNoSecret(t, r, fake)

	// The current folder by default, relative names, and flags after paths.
	c.dir = dir
	r = c.run("", nil, "scan")
	if r.code != 1 || r.stdout != filepath.Join("deploy", "ci.env")+":3: key id "+id+"\n" {
		t.Errorf("scan with no path: %s", r)
	}

	// Errors: exit 2 unless a key was found, which wins.
	c.fails(2, "no-such-file", nil, "scan", "no-such-file")
	r = c.run("", nil, "scan", "no-such-file", "deploy")
	if r.code != 1 || !strings.Contains(r.stderr, "no-such-file") {
		t.Errorf("a key and an error: want exit 1: %s", r)
	}
	if r := c.run("", nil, "scan", "--no-such-flag"); r.code != 2 {
		t.Errorf("an unknown flag: %s", r)
	}
}

func TestScanStdin(t *testing.T) {
	c := newCLI(t, "")
	key, id := newKey(t)
	r := c.run("first line\ncurl -u "+id+":"+key+" https://auth.example.com/oauth/token\n", nil, "scan", "-")
	if r.code != 1 || r.stdout != "(standard input):2: key id "+id+"\n" {
		t.Errorf("scan -: %s", r)
	}
	requireNoSecret(t, r, key)

	r = c.run("nothing here but kw_ and "+lookalike(key), nil, "scan", "-")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "(standard input):1: warning:") {
		t.Errorf("scan - with a look-alike: %s", r)
	}
	// Standard input is scanned even when it looks binary: the caller chose to pipe it.
	if r := c.run("\x00"+key, nil, "scan", "-"); r.code != 1 {
		t.Errorf("scan - of binary input: %s", r)
	}
}

// git runs git in dir with a fixed identity, failing the test on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.test", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestScanGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	c := newCLI(t, "")
	dir := t.TempDir()
	c.dir = dir
	git(t, dir, "init", "-q", "-b", "main")
	// A user's settings that change what git log prints must not change what scan finds.
	git(t, dir, "config", "diff.noprefix", "true")
	git(t, dir, "config", "color.ui", "always")
	git(t, dir, "config", "core.quotePath", "true")
	key, id := newKey(t)
	msgKey, msgID := newKey(t)
	writeFile(t, filepath.Join(dir, "b", "app settings.env"), "A=1\nB=2\nKEY="+key+"\n")
	writeFile(t, filepath.Join(dir, "README"), "hello\n")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "add settings")
	leaked := git(t, dir, "rev-parse", "HEAD")
	writeFile(t, filepath.Join(dir, "b", "app settings.env"), "A=1\nB=2\nKEY=\n")
	writeFile(t, filepath.Join(dir, "README"), "hello\n"+lookalike(key)+"\n")
	git(t, dir, "commit", "-q", "-a", "-m", "remove the key\n\nIt was "+msgKey)
	fixed := git(t, dir, "rev-parse", "HEAD")

	// The working tree is clean now; only the history holds the key.
	if r := c.run("", nil, "scan"); r.code != 0 || r.stdout != "" {
		t.Errorf("scan of the clean tree: %s", r)
	}
	r := c.run("", nil, "scan", "--git")
	if r.code != 1 {
		t.Fatalf("scan --git: want exit 1: %s", r)
	}
	want := []string{
		fixed[:12] + ":(commit message):3: key id " + msgID,
		leaked[:12] + ":b/app settings.env:3: key id " + id,
	}
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); !slices.Equal(got, want) {
		t.Errorf("scan --git reported\n%s\nwant\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), r)
	}
	if !strings.Contains(r.stderr, fixed[:12]+":README:2: warning:") {
		t.Errorf("scan --git did not warn about the look-alike: %s", r)
	}
	requireNoSecret(t, r, key, msgKey)

	// PATHs limit the history scan to some files.
	if r := c.run("", nil, "scan", "--git", "README"); r.code != 0 || r.stdout != "" {
		t.Errorf("scan --git README: %s", r)
	}

	// --staged sees what the next commit would add, as a pre-commit hook.
	staged, stagedID := newKey(t)
	writeFile(t, filepath.Join(dir, "new.txt"), "x\n"+staged+"\n")
	if r := c.run("", nil, "scan", "--staged"); r.code != 0 {
		t.Errorf("scan --staged before git add: %s", r)
	}
	git(t, dir, "add", "new.txt")
	r = c.run("", nil, "scan", "--staged")
	if r.code != 1 || r.stdout != "new.txt:2: key id "+stagedID+"\n" {
		t.Errorf("scan --staged: %s", r)
	}
	if !strings.Contains(r.stderr, "in the staged changes") || !strings.Contains(r.stderr, "before you commit") || strings.Contains(r.stderr, "once it was committed") {
		t.Errorf("scan --staged speaks of a commit that has not happened: %s", r)
	}

	// The allow-list at the repository's root is read from a subfolder too.
	writeFile(t, filepath.Join(dir, allowFile), "# the example key of the docs\n"+stagedID+" # new.txt\n")
	c.dir = filepath.Join(dir, "sub")
	writeFile(t, filepath.Join(c.dir, "placeholder"), "")
	if r := c.run("", nil, "scan", "--staged"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "ignored 1 occurrence of allow-listed keys") {
		t.Errorf("scan --staged with the key allow-listed: %s", r)
	}
	c.dir = dir
	requireNoSecret(t, r, staged)

	c.fails(2, "exclude each other", nil, "scan", "--git", "--staged")
	c.dir = t.TempDir()
	c.fails(2, "not a git repository", nil, "scan", "--git")
}

func TestScanAllowList(t *testing.T) {
	c := newCLI(t, "")
	dir := t.TempDir()
	c.dir = dir
	example, exampleID := newKey(t)
	leaked, leakedID := newKey(t)
	writeFile(t, filepath.Join(dir, "README.md"), "export KEYWARD_API_KEY="+example+"\n")
	writeFile(t, filepath.Join(dir, "lists", "docs-keys"), exampleID+"\n")

	// An allowed key does not fail the scan; it is counted, not listed.
	r := c.run("", nil, "scan", "--allow", filepath.Join("lists", "docs-keys"))
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "keyward: ignored 1 occurrence of allow-listed keys.") {
		t.Errorf("an allow-listed key: want exit 0: %s", r)
	}
	// .keywardscanignore in the folder scanned from, when it is not in a repository.
	writeFile(t, filepath.Join(dir, allowFile), "\n# docs\n"+exampleID+"\n")
	if r := c.run("", nil, "scan"); r.code != 0 {
		t.Errorf("with %s: want exit 0: %s", allowFile, r)
	}
	// Other keys are still found.
	writeFile(t, filepath.Join(dir, "ci.env"), leaked+"\n")
	if r := c.run("", nil, "scan"); r.code != 1 || r.stdout != "ci.env:1: key id "+leakedID+"\n" {
		t.Errorf("a key not allow-listed: want exit 1: %s", r)
	}
	// The list holds ids only, never secrets.
	writeFile(t, filepath.Join(dir, "bad"), example+"\n")
	r = c.fails(2, "bad:1: ", nil, "scan", "--allow", "bad")
	requireNoSecret(t, r, example)
	c.fails(2, "the allow-list", nil, "scan", "--allow", "missing")
}

// TestScanExportPatterns: the printed GitHub pattern and gitleaks rule find a real key in text as
// keyward scan does, and nothing inside a longer run of letters.
func TestScanExportPatterns(t *testing.T) {
	c := newCLI(t, "")
	key, _ := newKey(t)
	r := c.run("", nil, "scan", "--export-patterns")
	if r.code != 0 {
		t.Fatalf("scan --export-patterns: %s", r)
	}
	field := func(name string) string {
		for line := range strings.Lines(r.stdout) {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %q in %s", name, r.stdout)
		return ""
	}
	github := regexp.MustCompile("(?:" + field("Before secret") + ")(" + field("Secret format") + ")(?:" + field("After secret") + ")")
	_, rest, _ := strings.Cut(r.stdout, "regex = '''")
	rule, _, _ := strings.Cut(rest, "'''")
	gitleaks := regexp.MustCompile(rule)
	for _, re := range []*regexp.Regexp{github, gitleaks} {
		if m := re.FindStringSubmatch("TOKEN=" + key + "\n"); m == nil || m[1] != key {
			t.Errorf("%s does not find the key: %v", re, m)
		}
		if re.MatchString("x" + key) {
			t.Errorf("%s finds a key inside a longer word", re)
		}
	}
	if r := c.run("", nil, "scan", "--export-patterns", "."); r.code != 2 {
		t.Errorf("--export-patterns with a path: %s", r)
	}
}
