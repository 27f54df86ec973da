// Package docstest runs the shell blocks of a Markdown document that are marked runnable, in
// order, and reports the first one that fails or whose stated output does not appear.
//
// Markers, each on the line just before a ```sh (or ```bash) fence, render invisibly:
//
//	<!-- run -->                     run the block and wait for it to finish
//	<!-- run background ADDR -->     start the block, a server the document reaches at ADDR
//	                                 (such as 127.0.0.1:8080), and wait until it listens
//
// Each block runs with bash under set -euo pipefail in the document's working folder. Shell
// variables, exported variables and the current folder carry over from one block to the next,
// as they would in one terminal.
//
// Expectation: a command whose last line ends with the comment "# => TEXT" must print TEXT
// somewhere in its standard output (which is still shown); `curl -s -o /dev/null -w
// '%{http_code}\n' …  # => 204` checks a status code.
//
// Addresses: a background block listens on a port of its own choosing instead of the one the
// document names. Its environment has KEYWARD_ADDR=127.0.0.1:0 (keyward takes every flag from
// KEYWARD_<FLAG>), and the documented address in its text becomes 127.0.0.1:0. The block is ready
// once a log line whose message ends in "serving" or "listening" names the bound address in an
// addr= field. From then on every later block has "127.0.0.1:PORT" and "localhost:PORT" of the
// documented address replaced by the bound one, and a server documented at 127.0.0.1:8080 is
// also the CLI's KEYWARD_SERVER.
package docstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyward/keyward/internal/testlog"
)

// Block is one runnable shell block of a document.
type Block struct {
	Line       int    // the document's line number of the block's first line
	Text       string // the block's lines, without the fences
	Background string // the documented address of the server the block starts; "" to run it to the end
}

var markerRE = regexp.MustCompile(`^<!--\s*run(?:\s+background\s+(\S+))?\s*-->$`)

// Parse returns the runnable blocks of the Markdown document doc.
func Parse(doc string) ([]Block, error) {
	lines := strings.Split(doc, "\n")
	var blocks []Block
	for i := 0; i < len(lines); i++ {
		m := markerRE.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || !isShellFence(lines[i+1]) {
			return nil, fmt.Errorf("line %d: a run marker must be followed by a ```sh block", i+1)
		}
		start := i + 2
		end := start
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: the block never ends", i+2)
		}
		blocks = append(blocks, Block{Line: start + 1, Text: strings.Join(lines[start:end], "\n"), Background: m[1]})
		i = end
	}
	return blocks, nil
}

func isShellFence(line string) bool {
	info, ok := strings.CutPrefix(strings.TrimSpace(line), "```")
	return ok && (info == "sh" || info == "bash")
}

// Runner runs the blocks of one document.
type Runner struct {
	Name string   // the document, in failure messages
	Dir  string   // the working folder
	Env  []string // the blocks' environment
	// Ready is how long a background block may take to listen.
	Ready time.Duration

	state   string            // file holding the shell state between blocks
	addrs   map[string]string // documented address → bound address
	mu      sync.Mutex
	servers []*server
}

type server struct {
	cmd    *exec.Cmd
	out    *testlog.Buffer
	exited chan struct{}
}

// Failure is a block that failed: its document and line, the command and what it printed.
type Failure struct {
	Doc, Command, Output, Reason string
	Line                         int
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s:%d: %s\n    %s\noutput:\n%s", f.Doc, f.Line, f.Reason, f.Command, indent(f.Output))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (none)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// Run runs blocks in order and stops at the first failure, a *Failure. Servers started by
// background blocks keep running until Close.
func (r *Runner) Run(blocks []Block) error {
	if r.addrs == nil {
		r.addrs = map[string]string{}
	}
	if r.Ready == 0 {
		r.Ready = time.Minute
	}
	if r.state == "" {
		f, err := os.CreateTemp("", "docstest-state-")
		if err != nil {
			return err
		}
		f.Close()
		r.state = f.Name()
	}
	for _, b := range blocks {
		var err error
		if b.Background != "" {
			err = r.start(b)
		} else {
			err = r.run(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close stops the servers the blocks started.
func (r *Runner) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.servers {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	r.servers = nil
	if r.state != "" {
		os.Remove(r.state)
	}
}

// substitute replaces the documented addresses of servers already started by their bound ones.
func (r *Runner) substitute(text string) string {
	for doc, real := range r.addrs {
		_, port, _ := net.SplitHostPort(doc)
		text = strings.ReplaceAll(text, "127.0.0.1:"+port, real)
		text = strings.ReplaceAll(text, "localhost:"+port, real)
	}
	return text
}

func (r *Runner) env() []string {
	env := append([]string(nil), r.Env...)
	if real, ok := r.addrs["127.0.0.1:8080"]; ok {
		env = append(env, "KEYWARD_SERVER=http://"+real)
	}
	return env
}

var expectRE = regexp.MustCompile(`^(.*?)\s+# => (.+)$`)

// script turns a block into a bash script whose line n+1 is the block's line n, so that bash's
// line numbers point into the document. With save, the shell state is written on success.
func (r *Runner) script(text string, save bool) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		m := expectRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		first := i
		for first > 0 && strings.HasSuffix(strings.TrimRight(lines[first-1], " "), `\`) {
			first--
		}
		// One script line per block line, so that bash's line numbers point into the block.
		lines[i] = fmt.Sprintf("%s ); printf '%%s\\n' \"$__kw_out\"; __kw_expect %d %s", m[1], i+2, shellQuote(m[2]))
		lines[first] = "__kw_out=$(" + lines[first]
	}
	preamble := []string{
		`set -euo pipefail`,
		`__kw_base=" $(compgen -v | tr '\n' ' ') __kw_out __kw_v "`,
		`__kw_expect() { case "$__kw_out" in *"$2"*) ;; *) echo "__KW_EXPECT $1 $2" >&2; exit 97;; esac; }`,
		`trap 'echo "__KW_FAILED $LINENO $BASH_COMMAND" >&2' ERR`,
		fmt.Sprintf(`[ -s %s ] && source %[1]s`, shellQuote(r.state)),
	}
	out := strings.Join(preamble, "; ") + "\n" + strings.Join(lines, "\n") + "\n"
	if save {
		out += fmt.Sprintf(`{ for __kw_v in $(compgen -v); do case "$__kw_base" in *" $__kw_v "*) ;; *) declare -p "$__kw_v";; esac; done; printf 'cd %%q\n' "$PWD"; } > %s`+"\n", shellQuote(r.state))
	}
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var failedRE = regexp.MustCompile(`(?m)^__KW_(FAILED|EXPECT) (\d+) (.*)$`)

func (r *Runner) run(b Block) error {
	text := r.substitute(b.Text)
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", r.script(text, true))
	cmd.Dir, cmd.Env = r.Dir, r.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	f := &Failure{Doc: r.Name, Line: b.Line, Command: text, Output: string(out), Reason: fmt.Sprintf("block failed: %v", err)}
	if m := failedRE.FindAllStringSubmatch(string(out), -1); m != nil {
		last := m[len(m)-1]
		var n int
		fmt.Sscan(last[2], &n)
		blockLines := strings.Split(text, "\n")
		f.Line = b.Line + n - 2
		if n-2 >= 0 && n-2 < len(blockLines) {
			f.Command = strings.TrimSpace(blockLines[n-2])
		}
		if last[1] == "EXPECT" {
			first := n - 2
			for first > 0 && strings.HasSuffix(strings.TrimRight(blockLines[first-1], " "), `\`) {
				first--
			}
			f.Command = strings.Join(blockLines[first:n-1], "\n")
			f.Reason = fmt.Sprintf("the output does not contain %q", last[3])
		} else {
			f.Reason = "command failed: " + last[3]
		}
		f.Output = failedRE.ReplaceAllString(string(out), "")
	}
	return f
}

var addrRE = regexp.MustCompile(`(?:serving|listening)"?\s.*\baddr="?([0-9.:\[\]a-f]+)`)

func (r *Runner) start(b Block) error {
	_, port, err := net.SplitHostPort(b.Background)
	if err != nil {
		return fmt.Errorf("%s:%d: background address %q: %v", r.Name, b.Line, b.Background, err)
	}
	text := strings.ReplaceAll(r.substitute(b.Text), "127.0.0.1:"+port, "127.0.0.1:0")
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", r.script(text, false))
	cmd.Dir, cmd.Env = r.Dir, append(r.env(), "KEYWARD_ADDR=127.0.0.1:0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &server{cmd: cmd, out: &testlog.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	r.servers = append(r.servers, s)
	r.mu.Unlock()
	go func() { _ = cmd.Wait(); close(s.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), r.Ready)
	defer cancel()
	for {
		if m := addrRE.FindStringSubmatch(s.out.String()); m != nil {
			r.addrs[b.Background] = m[1]
			return nil
		}
		select {
		case <-s.exited:
			return &Failure{Doc: r.Name, Line: b.Line, Command: text, Output: s.out.String(), Reason: "the server exited before it listened"}
		case <-ctx.Done():
			return &Failure{Doc: r.Name, Line: b.Line, Command: text, Output: s.out.String(), Reason: fmt.Sprintf("the server did not listen within %s", r.Ready)}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Logs returns what the background blocks printed, for a failure report.
func (r *Runner) Logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.servers {
		b.WriteString(s.out.String())
	}
	return b.String()
}

// RunFile parses the document at path and runs its blocks in dir with env, stopping the servers
// it started before returning.
func RunFile(path, name, dir string, env []string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	blocks, err := Parse(string(doc))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(blocks) == 0 {
		return fmt.Errorf("%s: no runnable block", name)
	}
	r := &Runner{Name: name, Dir: dir, Env: env}
	defer r.Close()
	err = r.Run(blocks)
	var f *Failure
	if errors.As(err, &f) {
		if logs := r.Logs(); logs != "" {
			f.Output += "\nservers:\n" + lastLines(logs, 30)
		}
	}
	return err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
