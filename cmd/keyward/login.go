package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/term"

	"github.com/keyward/keyward/client"
)

func (m *Main) login(ctx context.Context, args []string) error {
	fs := m.flagSet("login", "login [--server URL] [--web | --password [--email EMAIL]]\n\n"+
		"Signs in and keeps a refresh token in your configuration folder (readable by you only) for the\n"+
		"other commands. With --web, the default when standard input is a terminal, it prints a code and\n"+
		"a link: open the link in a browser signed in to keyward (with your second factor, if you have\n"+
		"one), check the code and approve. With --password, the default otherwise, it signs in with your\n"+
		"email and password, read from the terminal without echo or from the first line of standard input;\n"+
		"when your account has two-factor sign-in on, a code of your authenticator app (or a recovery code)\n"+
		"is asked next, or read from the second line of standard input.")
	server := fs.String("server", "", "the keyward server's URL (default: KEYWARD_SERVER, the stored login's, or "+defaultServer+")")
	email := fs.String("email", "", "your email address, for --password (default: KEYWARD_EMAIL, or asked)")
	web := fs.Bool("web", false, "sign in by approving a code in the browser")
	withPassword := fs.Bool("password", false, "sign in with your email and password")
	rest, err := m.parseArgs(fs, args, "server", "email")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("login takes no arguments, got %q", rest[0])
	}
	if *web && *withPassword {
		return usagef("login: choose --web or --password, not both")
	}
	store, err := m.credentialStore()
	if err != nil {
		return err
	}
	previous, _ := store.load() // a damaged file is about to be replaced
	if *server == "" {
		if *server, err = m.server(previous); err != nil {
			return err
		}
	} else if *server, err = serverURL(*server); err != nil {
		return usagef("--server: %v", err)
	}
	if u, err := url.Parse(*server); err == nil && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fmt.Fprintf(m.Stderr, "keyward: warning: %s is plain http: your password and tokens cross the network unencrypted.\n", *server)
	}

	tty := m.stdinTerminal()
	if *web || (tty && !*withPassword) {
		return m.webLogin(ctx, store, previous, *server)
	}
	in := bufio.NewReader(m.Stdin)
	if *email == "" {
		if !tty {
			return usagef("login: give --email (or KEYWARD_EMAIL) when standard input is not a terminal")
		}
		fmt.Fprint(m.Stderr, "Email: ")
		line, err := readLine(in)
		if err != nil {
			return err
		}
		*email = strings.TrimSpace(line)
	}
	if *email == "" {
		return usagef("login: an email address is needed")
	}
	var password string
	if tty {
		fmt.Fprintf(m.Stderr, "Password for %s: ", *email)
		b, err := term.ReadPassword(int(m.Stdin.(*os.File).Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		password = string(b)
	} else {
		if password, err = readLine(in); err != nil {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
	}
	if password == "" {
		return usagef("login: the password is empty")
	}

	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.httpClient())
	resp, err := client.PasswordLogin(ctx, *server, *email, password, "")
	if client.SecondFactorRequired(err) {
		resp, err = m.loginSecondFactor(ctx, in, tty, *server, *email, password)
	}
	if err != nil {
		// A refusal names the server, which may be the stored login's rather than the one meant.
		var refused *oauth2.RetrieveError
		if errors.As(err, &refused) && refused.Response != nil && refused.Response.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("%s refused the login: %w", *server, explain(err, *server))
		}
		return explain(err, *server)
	}
	return m.saveLogin(ctx, store, previous, *server, *email, resp)
}

// saveLogin stores a new login in place of previous, whose session it ends.
func (m *Main) saveLogin(ctx context.Context, store *credentialStore, previous *credentials, server, email string, resp *client.TokenResponse) error {
	unlock, err := store.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := store.save(&credentials{
		Server: server, Email: email, AccessToken: resp.AccessToken, Expiry: resp.Expiry, RefreshToken: resp.RefreshToken,
	}); err != nil {
		return fmt.Errorf("signed in, but the login could not be saved: %w", err)
	}
	// A new login replaces the old one: end the old session rather than leave it alive unseen.
	if previous != nil && !previous.ended() && previous.RefreshToken != resp.RefreshToken {
		_ = m.revoke(ctx, previous)
	}
	fmt.Fprintf(m.Stdout, "Logged in to %s as %s.\n", server, email)
	return nil
}

func (m *Main) logout(ctx context.Context, args []string) error {
	fs := m.flagSet("logout", "logout\n\nEnds the stored login's session on the server and deletes the stored login.")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("logout takes no arguments, got %q", rest[0])
	}
	store, err := m.credentialStore()
	if err != nil {
		return err
	}
	unlock, err := store.lock()
	if err != nil {
		return err
	}
	defer unlock()
	stored, err := store.load()
	if err != nil {
		// Unreadable: nothing to revoke, but the file must still go.
		return store.remove()
	}
	if stored == nil || stored.ended() {
		fmt.Fprintln(m.Stdout, "Not logged in.")
		return store.remove()
	}
	revokeErr := m.revoke(ctx, stored)
	if err := store.remove(); err != nil {
		return err
	}
	if revokeErr != nil {
		fmt.Fprintf(m.Stderr, "keyward: warning: the session could not be ended on the server (%v); it lapses on its own when its refresh token expires.\n", explain(revokeErr, stored.Server))
	}
	fmt.Fprintf(m.Stdout, "Logged out of %s.\n", stored.Server)
	return nil
}

// revoke ends the stored login's session on its server (RFC 7009: the refresh token revokes its
// whole session).
func (m *Main) revoke(ctx context.Context, c *credentials) error {
	form := url.Values{"token": {c.RefreshToken}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Server+"/oauth/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	resp, err := m.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// stdinTerminal reports whether standard input is an interactive terminal.
func (m *Main) stdinTerminal() bool {
	f, ok := m.Stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLine reads one line without its line ending; the last line of the input may lack one.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("standard input ended before a line was read")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// loginSecondFactor asks for the second factor the server wants after a right password, and
// signs in with it.
func (m *Main) loginSecondFactor(ctx context.Context, in *bufio.Reader, tty bool, server, email, password string) (*client.TokenResponse, error) {
	if tty {
		fmt.Fprint(m.Stderr, "Two-factor code (or a recovery code): ")
	}
	line, err := readLine(in)
	if err != nil {
		return nil, fmt.Errorf("reading the two-factor code: %w", err)
	}
	otp := strings.TrimSpace(line)
	if otp == "" {
		return nil, usagef("login: your account has two-factor sign-in on: a code of your authenticator app or a recovery code is needed")
	}
	return client.PasswordLoginOTP(ctx, server, email, password, "", otp)
}
