package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyward/keyward/apikey"
)

func (m *Main) scan(ctx context.Context, args []string) error {
	fs := m.flagSet("scan", "scan [--git | --staged] [PATH…]\n\n"+
		"Finds keyward API keys in files and folders (recursively, skipping .git and binary files),\n"+
		"in standard input (PATH -), in every commit of the current repository (--git), or in the\n"+
		"changes staged for the next commit (--staged). With no PATH it scans the current folder.\n"+
		"Exit status: 1 when a key with a valid checksum is found, 0 when none is (look-alikes with\n"+
		"a bad checksum are only warned about), 2 on errors.")
	history := fs.Bool("git", false, "scan every commit of the current repository (git log -p --all); PATHs limit the files")
	staged := fs.Bool("staged", false, "scan the changes staged for the next commit (git diff --cached), as a pre-commit hook")
	paths, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	s := &scanner{out: m.Stdout, warn: m.Stderr}
	switch {
	case *history && *staged:
		return usagef("scan: --git and --staged exclude each other")
	case *history:
		// Commit messages belong to no file: PATHs leave them out.
		s.git(ctx, gitLogArgs(paths), true, len(paths) == 0)
	case *staged:
		s.git(ctx, gitStagedArgs(paths), false, false)
	default:
		if len(paths) == 0 {
			paths = []string{"."}
		}
		for _, p := range paths {
			if p == "-" {
				s.stream("(standard input)", m.Stdin, false)
			} else {
				s.path(p)
			}
		}
	}
	return s.finish()
}

// scanChunk is how much of a file is searched at once: files of any size are scanned in constant
// memory. A variable so that tests can make keys straddle chunk boundaries.
var scanChunk = 256 << 10

// binarySniff is how far into a file a NUL byte marks it as binary, as git decides.
const binarySniff = 8000

// scanner searches inputs for API keys and reports what it finds. It never prints a key, only
// its id, which lists show anyway: the report of a leak must not leak it again.
type scanner struct {
	out, warn io.Writer

	keys, lookalikes, errs int
	ids                    map[string]bool
}

// report prints one key-shaped token found at where (file:line).
func (s *scanner) report(where string, m apikey.Match) {
	if !m.Valid {
		s.lookalikes++
		fmt.Fprintf(s.warn, "%s: warning: %s… looks like an API key but its checksum is wrong, so it is not one\n", where, apikey.Prefix+m.ID)
		return
	}
	s.keys++
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[m.ID] = true
	fmt.Fprintf(s.out, "%s: key id %s\n", where, m.ID)
}

func (s *scanner) fail(format string, args ...any) {
	s.errs++
	fmt.Fprintf(s.warn, "keyward: scan: "+format+"\n", args...)
}

// finish prints the verdict and returns the exit status: a found key wins over errors, so that a
// script testing for status 1 never misses a key because another file was unreadable.
func (s *scanner) finish() error {
	switch {
	case s.keys > 0:
		found := plural(len(s.ids), "API key", "API keys")
		if s.keys > len(s.ids) {
			found += " in " + plural(s.keys, "place", "places")
		}
		fmt.Fprintf(s.warn, "keyward: found %s. Treat a found key as leaked: delete it (keyward keys delete ID) "+
			"and create a new one; removing it from the file is not enough once it was committed or shared.\n", found)
		return exitCode(1)
	case s.errs > 0:
		return exitCode(2)
	}
	return nil
}

// path scans a file, or a folder recursively. Inside folders it skips .git, symbolic links (so a
// link cannot lead the walk in circles or out of the tree) and anything that is not a regular file;
// a link named on the command line is followed.
func (s *scanner) path(root string) {
	info, err := os.Stat(root)
	if err != nil {
		s.fail("%v", err)
		return
	}
	if !info.IsDir() {
		s.file(root)
		return
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.fail("%v", err)
			return nil
		}
		switch {
		case d.IsDir() && d.Name() == ".git" && p != root:
			return filepath.SkipDir
		case d.Type().IsRegular():
			s.file(p)
		}
		return nil
	})
	if err != nil {
		s.fail("%v", err)
	}
}

func (s *scanner) file(name string) {
	f, err := os.Open(name)
	if err != nil {
		s.fail("%v", err)
		return
	}
	defer f.Close()
	s.stream(name, f, true)
}

// stream scans r in chunks, carrying the end of each chunk over to the next so that a key cut by
// the chunk boundary is still found and a longer run of letters is still not mistaken for one.
// With skipBinary, input with a NUL byte near its start is skipped.
func (s *scanner) stream(name string, r io.Reader, skipBinary bool) {
	buf := make([]byte, 0, scanChunk+apikey.Length+1)
	var (
		line    = 1
		counted int // the newlines of buf[:counted] are counted in line
		from    int // matches starting before from were reported in the previous round
		first   = true
	)
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			s.fail("%s: %v", name, err)
			return
		}
		if first && skipBinary && bytes.IndexByte(buf[:min(len(buf), binarySniff)], 0) >= 0 {
			return
		}
		first = false
		// A match starting at or after limit may run past the end of what was read, or be
		// followed by a letter not read yet: it waits for the next round.
		limit := len(buf)
		if !eof {
			limit = len(buf) - apikey.Length
		}
		for _, m := range apikey.Find(buf) {
			if m.Start < from {
				continue
			}
			if m.Start >= limit {
				break
			}
			line += bytes.Count(buf[counted:m.Start], newline)
			counted = m.Start
			s.report(name+":"+strconv.Itoa(line), m)
		}
		if eof {
			return
		}
		// Keep one byte before the undecided part: it tells whether a key starts right after it.
		keep := limit - 1
		line += bytes.Count(buf[counted:keep], newline)
		buf = buf[:copy(buf, buf[keep:])]
		counted, from = 0, 1
	}
}

var newline = []byte{'\n'}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Both git commands print plain, untransformed text whatever the user's git configuration: no
// colour, no external diff driver, no textconv filter (which could hide a file's real content),
// the standard a/ and b/ prefixes, and file names unquoted where git allows it. Merges are not diffed: what they bring was added, and scanned, in their parents.
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

// git runs git with args in the current folder and scans the lines its patches add. A key in a
// removed line was added, and reported, where it was added.
func (s *scanner) git(ctx context.Context, args []string, history, messages bool) {
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.fail("git: %v", err)
		return
	}
	if err := cmd.Start(); err != nil {
		s.fail("cannot run git: %v", err)
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
		s.fail("git %s: %s", args[2], msg)
		return
	}
	if readErr != nil {
		s.fail("reading git's output: %v", readErr)
	}
}

// patchScanner follows unified diffs, with the commit headers of gitLogArgs when history is set,
// and scans every added line under its file name and line number in the new version, and with
// messages every line of the commit messages.
type patchScanner struct {
	s        *scanner
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
		p.s.report(where, m)
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
