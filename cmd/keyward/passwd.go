package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"golang.org/x/term"
)

func (m *Main) passwd(ctx context.Context, args []string) error {
	fs := m.flagSet("passwd", "passwd\n\n"+
		"Changes your password. Your other sessions and dashboard logins end; this login stays.\n"+
		"The passwords are read from the terminal without echo (the new one twice), or from the first\n"+
		"two lines of standard input, current then new, when it is not a terminal.")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("passwd takes no arguments, got %q", rest[0])
	}
	if m.Getenv("KEYWARD_API_KEY") != "" {
		return usagef("passwd changes the password of the stored login: unset KEYWARD_API_KEY")
	}
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	var current, next string
	if m.stdinTerminal() {
		fd := int(m.Stdin.(*os.File).Fd())
		ask := func(prompt string) (string, error) {
			fmt.Fprint(m.Stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(m.Stderr)
			if err != nil {
				return "", fmt.Errorf("reading the password: %w", err)
			}
			return string(b), nil
		}
		if current, err = ask("Current password: "); err != nil {
			return err
		}
		if next, err = ask("New password: "); err != nil {
			return err
		}
		again, err := ask("New password again: ")
		if err != nil {
			return err
		}
		if again != next {
			return usagef("passwd: the new passwords differ; nothing was changed")
		}
	} else {
		in := bufio.NewReader(m.Stdin)
		if current, err = readLine(in); err != nil {
			return fmt.Errorf("reading the current password from standard input: %w", err)
		}
		if next, err = readLine(in); err != nil {
			return fmt.Errorf("reading the new password from standard input: %w", err)
		}
	}
	if current == "" || next == "" {
		return usagef("passwd: a password is empty")
	}
	if err := r.ChangePassword(ctx, current, next); err != nil {
		return r.explain(err)
	}
	fmt.Fprintln(m.Stdout, "Password changed. Your other sessions have ended.")
	return nil
}
