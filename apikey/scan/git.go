package scan

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/keyward/keyward/apikey"
)

// Both git commands print plain, untransformed text whatever the user's git configuration: no
// colour, no external diff driver, no textconv filter (which could hide a file's real content),
// the standard a/ and b/ prefixes, and file names unquoted where git allows it. Merges are not
// diffed: what they bring was added, and scanned, in their parents.
var plainDiff = []string{"--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"}

func gitLogArgs(paths []string) []string {
	// The NUL bytes delimit each commit's message, which no text diff can contain.
	args := []string{"-c", "core.quotePath=false", "log", "-p", "--all", "--format=%x00%H%n%B%x00"}
	args = append(args, plainDiff...)
	return append(append(args, "--"), paths...)
}

func gitStagedArgs(paths []string) []string {
	args := append([]string{"-c", "core.quotePath=false", "diff", "--cached", "-p"}, plainDiff...)
	return append(append(args, "--"), paths...)
}

// GitHistory scans every commit of the repository in Dir (git log -p --all): the lines each
// commit added and, when paths is empty, the commit messages; paths limit it to some files, and
// commit messages belong to none. A key in a removed line is reported where it was added.
func (s *Scanner) GitHistory(ctx context.Context, paths []string) {
	s.git(ctx, gitLogArgs(paths), true, len(paths) == 0)
}

// GitStaged scans the lines the changes staged for the next commit add (git diff --cached), as
// a pre-commit hook does; paths limit it to some files.
func (s *Scanner) GitStaged(ctx context.Context, paths []string) {
	s.git(ctx, gitStagedArgs(paths), false, false)
}

// git runs git with args in Dir and scans the lines its patches add.
func (s *Scanner) git(ctx context.Context, args []string, history, messages bool) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = s.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.fail(fmt.Errorf("git: %w", err))
		return
	}
	if err := cmd.Start(); err != nil {
		s.fail(fmt.Errorf("cannot run git: %w", err))
		return
	}
	p := &patchScanner{s: s, history: history, messages: messages}
	readErr := p.scan(bufio.NewReaderSize(out, 64<<10))
	if readErr != nil {
		_, _ = io.Copy(io.Discard, out) // let git finish writing before waiting for it
	}
	if err := cmd.Wait(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if msg == "" {
			msg = err.Error()
		}
		s.fail(fmt.Errorf("git %s: %s", args[2], msg))
		return
	}
	if readErr != nil {
		s.fail(fmt.Errorf("reading git's output: %w", readErr))
	}
}

// patchScanner follows unified diffs, with the commit headers of gitLogArgs when history is set,
// and scans every added line under its file name and line number in the new version, and with
// messages every line of the commit messages.
type patchScanner struct {
	s        *Scanner
	history  bool
	messages bool

	commit    string // the current commit, in history mode
	inMessage bool
	msgLine   int
	file      string // the new file's name; "" when it was deleted
	oldLeft   int    // lines of the current hunk still to come, old and new side
	newLeft   int
	newLine   int // line number of the next new-side line
}

func (p *patchScanner) scan(r *bufio.Reader) error {
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			p.line(line)
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func (p *patchScanner) where(file string, line int) string {
	if p.history {
		return fmt.Sprintf("%.12s:%s:%d", p.commit, file, line)
	}
	return fmt.Sprintf("%s:%d", file, line)
}

func (p *patchScanner) find(where string, text []byte) {
	for _, m := range apikey.Find(text) {
		p.s.found(Finding{Where: where, ID: m.ID, Valid: m.Valid})
	}
}

func (p *patchScanner) line(line []byte) {
	switch {
	case p.inMessage:
		text, _, closed := bytes.Cut(line, []byte{0})
		if len(text) > 0 && p.messages {
			p.msgLine++
			p.find(p.where("(commit message)", p.msgLine), text)
		}
		p.inMessage = !closed
	case p.oldLeft > 0 || p.newLeft > 0:
		p.hunkLine(line)
	case p.history && len(line) > 0 && line[0] == 0:
		p.commit = strings.TrimSpace(string(line[1:]))
		p.inMessage, p.msgLine, p.file = true, 0, ""
	case bytes.HasPrefix(line, []byte("diff --git ")):
		p.file = ""
	case bytes.HasPrefix(line, []byte("+++ ")):
		p.file = newFileName(string(bytes.TrimRight(line[4:], "\t\r\n")))
	case bytes.HasPrefix(line, []byte("@@ ")):
		p.hunk(line)
	}
}

func (p *patchScanner) hunkLine(line []byte) {
	if len(line) == 0 {
		return
	}
	switch line[0] {
	case '+':
		if p.file != "" {
			p.find(p.where(p.file, p.newLine), line[1:])
		}
		p.newLeft--
		p.newLine++
	case '-':
		p.oldLeft--
	case ' ', '\n':
		p.oldLeft--
		p.newLeft--
		p.newLine++
	case '\\': // "\ No newline at end of file"
	default: // not a hunk line: the counts were wrong; resynchronise on headers
		p.oldLeft, p.newLeft = 0, 0
		p.line(line)
	}
}

// hunk reads "@@ -l[,s] +l[,s] @@".
func (p *patchScanner) hunk(line []byte) {
	fields := strings.Fields(string(line))
	if len(fields) < 4 || !strings.HasPrefix(fields[1], "-") || !strings.HasPrefix(fields[2], "+") {
		return
	}
	_, oldCount := hunkRange(fields[1][1:])
	newStart, newCount := hunkRange(fields[2][1:])
	p.oldLeft, p.newLeft, p.newLine = oldCount, newCount, newStart
}

func hunkRange(s string) (start, count int) {
	a, b, ok := strings.Cut(s, ",")
	start, _ = strconv.Atoi(a)
	count = 1
	if ok {
		count, _ = strconv.Atoi(b)
	}
	return start, count
}

// newFileName turns the name after "+++ " into the file's path: "b/dir/f" is dir/f, /dev/null
// (a deletion) is "", and a name git had to quote is unquoted.
func newFileName(s string) string {
	if s == "/dev/null" {
		return ""
	}
	if strings.HasPrefix(s, `"`) {
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		}
	}
	return strings.TrimPrefix(s, "b/")
}
