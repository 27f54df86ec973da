package docstest_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/docstest"
	"github.com/keyward/keyward/internal/proctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Clean()
	os.Exit(code)
}

// TestDocs runs the runnable blocks of each document, in order, in a fresh folder with its own
// servers, and fails on the first block that fails or prints something else than it says.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keyward and runs every documented command")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("the documents' commands need %s", tool)
			}
			t.Fatalf("the documents' commands need %s, and CI must run them", tool)
		}
	}
	bin := t.TempDir()
	for name, pkg := range map[string]string{"keyward": "./cmd/keyward", "containers-api": "./examples/containers-api"} {
		built, err := proctest.Build(pkg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(built, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, doc := range []string{"README.md", "docs/cli.md", "examples/containers-api/README.md"} {
		t.Run(doc, func(t *testing.T) {
			dir := t.TempDir()
			home := t.TempDir() // the CLI's login goes here, outside the folder the documents scan
			env := append(proctest.Environ(),
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
			if err := docstest.RunFile(filepath.Join("..", "..", doc), doc, dir, env); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBrokenBlocks proves that a failing command and a wrong expectation are reported with the
// document's line and the command, and that state carries over between blocks.
func TestBrokenBlocks(t *testing.T) {
	doc, err := os.ReadFile("testdata/broken.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docstest.Parse(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("got %d runnable blocks, want 3 (the unmarked one is not runnable)", len(blocks))
	}
	r := &docstest.Runner{Name: "broken.md", Dir: t.TempDir(), Env: os.Environ()}
	defer r.Close()
	if err := r.Run(blocks[:1]); err != nil {
		t.Fatalf("the first block should pass: %v", err)
	}
	for _, c := range []struct {
		block  docstest.Block
		line   int
		inMsg  []string
		notOut string
	}{
		{blocks[1], 16, []string{"broken.md:16:", "ls ./no-such-file", "before", "No such file"}, "after"},
		{blocks[2], 25, []string{"broken.md:25:", `does not contain "goodbye"`, "there", "hello there"}, ""},
	} {
		err := r.Run([]docstest.Block{c.block})
		var f *docstest.Failure
		if !errors.As(err, &f) {
			t.Fatalf("block at line %d: got %v, want a failure", c.block.Line, err)
		}
		if f.Line != c.line {
			t.Errorf("failure at line %d, want %d:\n%v", f.Line, c.line, err)
		}
		for _, s := range c.inMsg {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("the report lacks %q:\n%v", s, err)
			}
		}
		if c.notOut != "" && strings.Contains(f.Output, c.notOut) {
			t.Errorf("the block went on after the failing command:\n%v", err)
		}
	}
}

func TestMarkerWithoutBlock(t *testing.T) {
	if _, err := docstest.Parse("text\n<!-- run -->\nmore text\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v, want an error naming line 2", err)
	}
}

// TestDockerfileCopiesTheReleaseBinary checks that the image is built from the file the release
// build writes: without a Docker daemon, the one thing a test can check about the Dockerfile.
func TestDockerfileCopiesTheReleaseBinary(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	out := regexp.MustCompile(`(?m)^release:\n\t.*CGO_ENABLED=0 go build -trimpath .* -o (\S+) \./cmd/keyward$`).FindSubmatch(makefile)
	if out == nil {
		t.Fatal("the Makefile has no release target building a static, trimmed ./cmd/keyward")
	}
	if !regexp.MustCompile(`(?m)^FROM scratch$`).Match(dockerfile) {
		t.Error("the Dockerfile does not start FROM scratch")
	}
	copies := regexp.MustCompile(`(?m)^COPY (\S+) /keyward$`).FindSubmatch(dockerfile)
	got := ""
	if copies != nil {
		got = string(copies[1])
	}
	if got != string(out[1]) {
		t.Errorf("the Dockerfile copies %q into the image, the release build writes %q", got, out[1])
	}
}
