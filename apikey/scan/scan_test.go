package scan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/apikey"
)

// lookalike returns a key with its checksum replaced: the shape of a key, but not one.
func lookalike(key string) string {
	body, sum := key[:len(key)-6], "000000"
	if key[len(key)-6:] == sum {
		sum = "000001"
	}
	return body + sum
}

func newKey(t testing.TB) (key, id string) {
	t.Helper()
	key, id, err := apikey.New(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// writeFinding prints f as one line, look-alikes marked, so that reports compare as text.
func writeFinding(w io.Writer, f Finding) {
	if f.Valid {
		fmt.Fprintf(w, "%s: key id %s\n", f.Where, f.ID)
	} else {
		fmt.Fprintf(w, "%s: look-alike %s\n", f.Where, f.ID)
	}
}

// TestScanStreamChunks cuts the input at every offset around a key, so that keys straddle the
// boundary between two reads, and checks that the report is the same as for the whole input.
func TestScanStreamChunks(t *testing.T) {
	key, id := newKey(t)
	inputs := []string{
		"a\n" + key + "\n\nb " + lookalike(key) + " " + key,
		key,
		"x" + key,                              // glued to a letter: not a key
		key + "9",                              // longer than a key: not one
		"_" + key + "_\n" + key + "\n" + key,   // underscores are not key characters
		strings.Repeat("kw_", 40) + "\n" + key, // many false starts
	}
	for _, in := range inputs {
		want := scanReport(t, in, 1<<20)
		for chunk := 1; chunk <= 2*apikey.Length+3; chunk++ {
			if got := scanReport(t, in, chunk); got != want {
				t.Fatalf("chunk %d: got\n%s\nwant\n%s", chunk, got, want)
			}
		}
	}
	if got := scanReport(t, "a\nb\n"+key, 7); got != "in:3: key id "+id+"\n" {
		t.Errorf("line numbers across chunks: %q", got)
	}
}

func scanReport(t testing.TB, in string, chunk int) string {
	t.Helper()
	defer func(old int) { chunkSize = old }(chunkSize)
	chunkSize = chunk
	var out bytes.Buffer
	s := &Scanner{Found: func(f Finding) { writeFinding(&out, f) }}
	s.Reader("in", strings.NewReader(in))
	return out.String()
}

// FuzzScanStream checks, on any input, that scanning in small chunks finds exactly what
// apikey.Find finds in the whole input, at the right lines.
func FuzzScanStream(f *testing.F) {
	key, _ := newKey(f)
	f.Add("x\n"+key+" "+lookalike(key), 5)
	f.Add("kw_kw_"+key+"\n\n", 60)
	f.Fuzz(func(t *testing.T, in string, chunk int) {
		chunk = 1 + (chunk&0x7fffffff)%(3*apikey.Length)
		var want bytes.Buffer
		data := []byte(in)
		for _, m := range apikey.Find(data) {
			line := 1 + bytes.Count(data[:m.Start], newline)
			writeFinding(&want, Finding{Where: fmt.Sprintf("in:%d", line), ID: m.ID, Valid: m.Valid})
		}
		if got := scanReport(t, in, chunk); got != want.String() {
			t.Fatalf("chunk %d: got\n%s\nwant\n%s", chunk, got, want.String())
		}
	})
}

func TestPatchScanner(t *testing.T) {
	key, id := newKey(t)
	key2, id2 := newKey(t)
	patch := "\x00" + strings.Repeat("a", 40) + "\n" +
		"subject\n" +
		"\x00\n" +
		"\n" +
		"diff --git a/f b/f\n" +
		"--- a/f\n" +
		"+++ b/f\n" +
		"@@ -1,3 +10,4 @@ func x() {\n" +
		" context " + key + "\n" + // context lines were added earlier: not reported here
		"-removed " + key + "\n" +
		"+++ added, looks like a header " + key + "\n" +
		"\\ No newline at end of file\n" +
		" \n" +
		"+" + key2 + "\n" +
		"diff --git a/gone b/gone\n" +
		"deleted file mode 100644\n" +
		"--- a/gone\n" +
		"+++ /dev/null\n" +
		"@@ -1 +0,0 @@\n" +
		"-" + key + "\n" +
		"diff --git \"a/t\\tab\" \"b/t\\tab\"\n" +
		"--- \"a/t\\tab\"\n" +
		"+++ \"b/t\\tab\"\n" +
		"@@ -0,0 +1 @@\n" +
		"+" + key + "\n"
	var out bytes.Buffer
	p := &patchScanner{s: &Scanner{Found: func(f Finding) { writeFinding(&out, f) }}, history: true, messages: true}
	if err := p.scan(bufio.NewReader(strings.NewReader(patch))); err != nil {
		t.Fatal(err)
	}
	c := strings.Repeat("a", 12)
	want := c + ":f:11: key id " + id + "\n" +
		c + ":f:13: key id " + id2 + "\n" +
		c + ":t\tab:1: key id " + id + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	key, id := newKey(t)
	hidden, hiddenID := newKey(t)
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("deploy/ci.env", "A=1\nKEY="+key+"\n")
	write("notes.md", "typo: "+lookalike(key)+"\n")
	write(".git/config", hidden+"\n")
	write("app.bin", "\x7fELF\x00"+hidden)
	outside := filepath.Join(t.TempDir(), "outside.env")
	if err := os.WriteFile(outside, []byte(hidden), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.env")); err != nil {
		t.Skipf("symbolic links: %v", err)
	}

	var out bytes.Buffer
	var errs []error
	s := &Scanner{Found: func(f Finding) { writeFinding(&out, f) }, Failed: func(err error) { errs = append(errs, err) }}
	s.Path(dir)
	want := filepath.Join(dir, "deploy", "ci.env") + ":2: key id " + id + "\n" +
		filepath.Join(dir, "notes.md") + ":1: look-alike " + id + "\n"
	if out.String() != want || len(errs) != 0 {
		t.Errorf("Path(folder) found\n%s(errors %v)\nwant\n%s", out.String(), errs, want)
	}
	if strings.Contains(out.String(), hiddenID) {
		t.Errorf("Path looked into .git, a binary file or through a link inside the folder:\n%s", out.String())
	}

	// A link named by the caller is followed; a missing path is an error, and the scan goes on.
	out.Reset()
	s.Path(filepath.Join(dir, "missing"))
	s.Path(filepath.Join(dir, "link.env"))
	if want := filepath.Join(dir, "link.env") + ":1: key id " + hiddenID + "\n"; out.String() != want {
		t.Errorf("Path(link) found %q, want %q", out.String(), want)
	}
	if len(errs) != 1 || !errors.Is(errs[0], fs.ErrNotExist) {
		t.Errorf("errors %v, want one for the missing path", errs)
	}
}

func TestGitOutsideARepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	var errs []error
	s := &Scanner{Dir: t.TempDir(), Failed: func(err error) { errs = append(errs, err) },
		Found: func(f Finding) { t.Errorf("found %+v outside a repository", f) }}
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(s.Dir))
	s.GitHistory(context.Background(), nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a git repository") {
		t.Errorf("errors %v, want git's refusal", errs)
	}
}
