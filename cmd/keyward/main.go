// Command keyward is the keyward authorization server and its command-line tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := exitStatus(m.Run(ctx, os.Args[1:]), os.Stderr)
	stop()
	os.Exit(code)
}

// exitStatus prints err as one line, unless the command already said everything, and returns the
// process's exit status: 0 for success or a help request, 2 for a mistake on the command line,
// 1 when a client command failed, and 2 for any other failure (the server's start-up errors).
func exitStatus(err error, stderr io.Writer) int {
	var (
		code  exitCode
		usage *usageError
		run   *runError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &usage):
		if usage.prefixed {
			fmt.Fprintln(stderr, usage.msg)
		} else {
			fmt.Fprintln(stderr, "keyward:", usage.msg)
		}
		return 2
	case errors.As(err, &run):
		fmt.Fprintln(stderr, "keyward:", message(run.err))
		return 1
	}
	fmt.Fprintln(stderr, "keyward:", message(err))
	return 2
}

// message is err as one line for a person: an error of the keyward package says its message
// rather than "keyward: code: message", and the "keyward: " that the library's errors start with
// is dropped wherever they are wrapped, so that the line carries the program's prefix once.
func message(err error) string {
	s := err.Error()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ke, ok := e.(*keyward.Error); ok {
			s = strings.Replace(s, ke.Error(), ke.Message, 1)
			break
		}
	}
	s = strings.ReplaceAll(s, ": keyward: ", ": ")
	return oneLine(strings.TrimPrefix(s, "keyward: "))
}

// oneLine keeps an error message on one line, so that a script reading standard error line by
// line sees one failure as one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// exitCode ends the program with a status but no message (the command printed its own).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a mistake in how a command was called: exit status 2, as for flag errors.
// A prefixed message names the command itself ("keyward keys create: …") and is printed as is.
type usageError struct {
	msg      string
	prefixed bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// runError is the failure of a client command that was called correctly: exit status 1.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// failed marks the errors of a client command that are not usage errors as runtime failures.
func failed(err error) error {
	var (
		code  exitCode
		usage *usageError
	)
	if err == nil || errors.Is(err, flag.ErrHelp) || errors.As(err, &code) || errors.As(err, &usage) {
		return err
	}
	return &runError{err: err}
}

// Main is the program with its environment injected, so tests run commands end to end in-process.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// UserConfigDir returns the folder under which `keyward login` keeps its credentials;
	// nil means os.UserConfigDir.
	UserConfigDir func() (string, error)
	// Now is the clock that --expires durations count from; nil means time.Now.
	Now func() time.Time
}

const usage = `keyward: API keys that never touch your API.

Usage:
  keyward serve [flags]                 run the authorization server

  keyward login [--server URL] [--web | --password [--email E]]
                                        sign in; stores a refresh token for the commands below
  keyward passwd                        change your password; your other sessions end
  keyward logout                        end the stored login's session and forget it
  keyward projects list                 list your projects
  keyward projects create NAME          create a project
  keyward projects rename PROJECT NEW-NAME
                                        rename a project
  keyward projects delete PROJECT --yes delete a project; its keys and tokens stop working at once
  keyward keys list [--project P]       list a project's API keys (never their secrets)
  keyward keys create --name N [--role R] [--permissions a,b] [--ips cidr,…] [--expires T] [--project P]
                                        create an API key and print it, once
  keyward keys edit ID|NAME [--role R|--no-role] [--permissions a,b] …
                                        change an API key; what is not given stays
  keyward keys disable|enable ID|NAME [--project P]
                                        stop an API key at once, or let it work again
  keyward keys delete ID|NAME [--project P]
                                        delete an API key; its tokens stop working at once
  keyward roles list [--project P]      list a project's roles, with how many members and keys hold each
  keyward roles create NAME --permissions a,b [--description TEXT]
                                        create a role that members and API keys can hold
  keyward roles edit NAME [--name NEW] [--permissions a,b] [--description TEXT]
                                        change a role for all its holders at once
  keyward roles delete NAME             delete a role that nobody holds
  keyward webhooks list|create|edit|delete|roll-secret|test|messages|redeliver …
                                        send a project's events to an HTTPS endpoint, signed
  keyward token [--scope a,b]           exchange KEYWARD_API_KEY and print the access token
  keyward token --federated SOURCE [--project P]
                                        trade a workload's identity token (file:PATH, env:NAME,
                                        github-actions[:AUDIENCE]) for an access token and print it
  keyward permissions                   list the permission catalog, by group

  keyward scan [--git|--staged] [PATH…] find API keys in files, folders (- is standard input),
                                        git history, or staged changes; exit status 1 if any
  keyward version                       print the version

Environment:
  KEYWARD_SERVER    the server's URL (default: the stored login's, else http://127.0.0.1:8080)
  KEYWARD_API_KEY   an API key to act with instead of the stored login
  KEYWARD_PROJECT   the project of 'keyward keys', 'roles' and 'webhooks' when --project is not given

List commands print a table; --json prints JSON for scripts.
Run 'keyward <command> -h' for a command's flags.
`

// Run dispatches to a subcommand.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return exitCode(2)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.serve(ctx, rest)
	case "login":
		return failed(m.login(ctx, rest))
	case "passwd":
		return failed(m.passwd(ctx, rest))
	case "logout":
		return failed(m.logout(ctx, rest))
	case "projects":
		return failed(m.projects(ctx, rest))
	case "keys":
		return failed(m.keys(ctx, rest))
	case "roles":
		return failed(m.roles(ctx, rest))
	case "webhooks":
		return failed(m.webhooks(ctx, rest))
	case "token":
		return failed(m.token(ctx, rest))
	case "permissions":
		return failed(m.permissions(ctx, rest))
	case "scan":
		return m.scan(ctx, rest)
	case "version", "--version", "-version":
		return m.version()
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	return unknownCommand("keyward", cmd, commands)
}

// commands are the subcommands of keyward, for suggestions.
var commands = []string{"serve", "login", "passwd", "logout", "projects", "keys", "roles", "webhooks", "token", "permissions", "scan", "version", "help"}

// unknownCommand is the usage error for an unknown subcommand of parent ("keyward keys"), with the
// nearest known command as a suggestion.
func unknownCommand(parent, got string, known []string) error {
	msg := fmt.Sprintf("%s: unknown command %q", parent, got)
	if near := nearest(got, known); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return &usageError{msg: msg + fmt.Sprintf("; '%s -h' lists the commands", parent), prefixed: true}
}

// subcommand is a command of a group such as keyward keys.
type subcommand struct {
	name string
	run  func(context.Context, []string) error
}

// dispatch runs the command of group ("keys") that args name, prints the group's synopsis for
// -h, and otherwise says which commands there are.
func (m *Main) dispatch(ctx context.Context, group, synopsis string, cmds []subcommand, args []string) error {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	if len(args) == 0 {
		choices := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
		return usagef("%s: give a command: %s ('keyward %s -h' shows how)", group, choices, group)
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(m.Stderr, "Usage: keyward %s\n", synopsis)
		return nil
	}
	return unknownCommand("keyward "+group, args[0], names)
}

// flagSet returns a FlagSet for a client command whose usage line is synopsis.
func (m *Main) flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("keyward "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: keyward %s\n", synopsis)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(m.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags wherever they stand among the positional arguments, so that
// `keyward keys delete ID --project web` works as well as the flags-first order; everything after
// "--" is positional. The flags named in fromEnv that were not given take KEYWARD_<NAME> (only
// those: KEYWARD_PERMISSIONS, say, is the server's catalog file, not a key's permissions). It
// returns the positional arguments. A flag error is one line naming the flag (see parseFlags).
func (m *Main) parseArgs(fs *flag.FlagSet, args []string, fromEnv ...string) ([]string, error) {
	var positional []string
	for {
		if err := m.parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range fromEnv {
		env := "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v := m.Getenv(env); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, usagef("%s", valueProblem(env, fs.Lookup(name), v, err))
			}
		}
	}
	return positional, nil
}

// envOverlay sets every flag not given on the command line from KEYWARD_<NAME>, where NAME is the
// flag name upper-cased with dashes as underscores. Command-line flags win.
func (m *Main) envOverlay(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := "KEYWARD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := m.Getenv(name); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = usagef("%s", valueProblem(name, f, v, e))
			}
		}
	})
	return err
}
