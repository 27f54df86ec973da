package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

const defaultServer = "http://127.0.0.1:8080"

// userAgent names the CLI in the server's logs.
var userAgent = "keyward-cli/" + keyward.Version

func (m *Main) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Main) httpClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second}
}

// server returns the server to talk to: KEYWARD_SERVER, else the stored login's (an ended login
// still remembers its server), else the default.
func (m *Main) server(stored *credentials) (string, error) {
	if s := m.Getenv("KEYWARD_SERVER"); s != "" {
		u, err := serverURL(s)
		if err != nil {
			return "", usagef("KEYWARD_SERVER: %v", err)
		}
		return u, nil
	}
	if stored != nil {
		return stored.Server, nil
	}
	return defaultServer, nil
}

// serverURL checks a server URL given by the user and returns it without a trailing slash. An
// address without a scheme is taken as http:// on this machine (127.0.0.1:8080, localhost:8080),
// and refused elsewhere: whether a remote server speaks https cannot be guessed, and sending a
// password over http by mistake must not be possible.
func serverURL(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	if !strings.Contains(s, "://") {
		host := s
		if h, _, err := net.SplitHostPort(s); err == nil {
			host = h
		}
		if !isLoopback(host) {
			return "", fmt.Errorf("%q has no scheme: write https://%s (or http:// if that server does not use TLS)", s, s)
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL such as https://auth.example.com", s)
	}
	return s, nil
}

// remote is an authenticated connection to the management API.
type remote struct {
	*client.Client
	server string
	login  bool // acting with the stored login, not with KEYWARD_API_KEY
}

// connect authenticates with KEYWARD_API_KEY when it is set (an explicit credential for this one
// command wins over the stored login), else with the stored login.
func (m *Main) connect(ctx context.Context) (*remote, error) {
	store, err := m.credentialStore()
	if err != nil {
		return nil, err
	}
	if key := strings.TrimSpace(m.Getenv("KEYWARD_API_KEY")); key != "" {
		stored, _ := store.load() // only for its server; a damaged file does not matter here
		server, err := m.server(stored)
		if err != nil {
			return nil, err
		}
		ts := client.TokenSource(ctx, client.Config{Server: server, Key: key, HTTPClient: m.httpClient()})
		return &remote{Client: client.New(server, ts, client.WithHTTPClient(m.httpClient()), client.WithUserAgent(userAgent)), server: server}, nil
	}
	unlock, err := store.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	stored, err := store.load()
	if err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, errors.New("you are not logged in: run 'keyward login', or set KEYWARD_API_KEY")
	}
	if stored.ended() {
		return nil, fmt.Errorf("your login to %s has ended (it expired or was revoked): run 'keyward login' again", stored.Server)
	}
	server, err := m.server(stored)
	if err != nil {
		return nil, err
	}
	if server != stored.Server {
		return nil, fmt.Errorf("you are logged in to %s, not to KEYWARD_SERVER=%s: run 'keyward login --server %s', or unset KEYWARD_SERVER", stored.Server, server, server)
	}
	var saveErr error
	ts := client.SessionTokenSource(ctx, client.SessionConfig{
		Server: server, Token: stored.token(), HTTPClient: m.httpClient(),
		OnRotate: func(t *oauth2.Token) {
			next := *stored
			next.AccessToken, next.Expiry, next.RefreshToken = t.AccessToken, t.Expiry, t.RefreshToken
			saveErr = store.save(&next)
		},
	})
	// The token is taken while the lock is held, so that a refresh and the saving of its new
	// refresh token happen in one process at a time. A command lasts seconds, and the token has
	// at least that long to live, so the command keeps this one token.
	tok, err := ts.Token()
	if errors.Is(err, client.ErrLoginRequired) {
		// Forget the tokens but not the server, which the next 'keyward login' signs in to.
		_ = store.save(&credentials{Server: stored.Server, Email: stored.Email})
		return nil, fmt.Errorf("your login to %s has ended (it expired or was revoked): run 'keyward login' again", server)
	} else if err != nil {
		return nil, explain(err, server)
	}
	if saveErr != nil {
		return nil, fmt.Errorf("the login was renewed but could not be saved, so it is lost; run 'keyward login' again: %w", saveErr)
	}
	c := client.New(server, oauth2.StaticTokenSource(tok), client.WithHTTPClient(m.httpClient()), client.WithUserAgent(userAgent))
	return &remote{Client: c, server: server, login: true}, nil
}

// loginAgain is the advice added when the stored login was refused.
const loginAgain = "Run 'keyward login' again."

// explain is the package-level explain, with advice when the stored login was refused.
func (r *remote) explain(err error) error {
	var problem *client.Problem
	if r.login && errors.As(err, &problem) && problem.Status == http.StatusUnauthorized {
		return fmt.Errorf("%v %s", explain(err, r.server), loginAgain)
	}
	return explain(err, r.server)
}

// explain turns an error of the client package into one sentence for a person: the detail of a
// problem the server reported, the description of a refused token request, or what could not be
// reached. Secrets never appear: the client's errors carry none.
func explain(err error, server string) error {
	var (
		problem  *client.Problem
		retrieve *oauth2.RetrieveError
		urlErr   *url.Error
		netErr   net.Error
		pathErr  *fs.PathError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pathErr):
		// A local file (the error's syscall.Errno would pass for a net.Error below).
		return errors.New(strings.TrimPrefix(err.Error(), "keyward: "))
	case errors.As(err, &problem):
		if problem.Detail != "" {
			return errors.New(problem.Detail)
		}
		return fmt.Errorf("the server answered %d %s", problem.Status, problem.Title)
	case errors.As(err, &retrieve):
		if retrieve.Response != nil && retrieve.Response.StatusCode == http.StatusTooManyRequests {
			if secs, err := strconv.Atoi(retrieve.Response.Header.Get("Retry-After")); err == nil && secs > 0 {
				return fmt.Errorf("too many failed attempts; try again in %s", plural(secs, "second", "seconds"))
			}
			return errors.New("too many failed attempts; try again in a minute")
		}
		msg := retrieve.ErrorDescription
		if msg == "" {
			msg = "the server refused the credentials"
		}
		if retrieve.ErrorCode != "" {
			msg += " (" + retrieve.ErrorCode + ")"
		}
		return errors.New(msg)
	case errors.Is(err, syscall.ECONNREFUSED):
		if server == defaultServer {
			return fmt.Errorf("no keyward server answers at %s, the default: start one with 'keyward serve', or set KEYWARD_SERVER to your server's URL", server)
		}
		return fmt.Errorf("the keyward server at %s is not answering (connection refused): is 'keyward serve' running there?", server)
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		cause := err
		if urlErr != nil {
			cause = urlErr.Err
		}
		return fmt.Errorf("cannot reach the keyward server at %s: %v", server, cause)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "keyward: "))
}
