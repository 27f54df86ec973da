package main

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

func (m *Main) token(ctx context.Context, args []string) error {
	fs := m.flagSet("token", "token [--scope a,b] [--json] [--server URL]\n"+
		"       keyward token --federated SOURCE [--project P] [--grant token-exchange|jwt-bearer] [--scope a,b] [--json] [--server URL]\n\n"+
		"Exchanges the API key in KEYWARD_API_KEY at the server's token endpoint and prints the access\n"+
		"token, for the Authorization: Bearer header of calls to your API. The key never leaves for the API.\n"+
		"With --federated, trades the identity token a workload's platform gave it instead (workload\n"+
		"identity federation): SOURCE is file:PATH, env:NAME or github-actions[:AUDIENCE].")
	scope := fs.String("scope", "", "comma-separated permissions to narrow the token to (default: all of the key's)")
	asJSON := fs.Bool("json", false, "print the whole token response as JSON, refresh token included")
	serverFlag := fs.String("server", "", "the keyward server's URL (default: KEYWARD_SERVER, the stored login's, or "+defaultServer+")")
	fed := federatedFlags(fs)
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("token takes no arguments, got %q (the key goes in KEYWARD_API_KEY, not on the command line)", rest[0])
	}
	if err := fed.check(); err != nil {
		return err
	}
	key := strings.TrimSpace(m.Getenv("KEYWARD_API_KEY"))
	if key == "" && fed.source == "" {
		return usagef("token: set KEYWARD_API_KEY to the API key to exchange, or give --federated SOURCE")
	}
	server, err := m.serverFlag(*serverFlag)
	if err != nil {
		return err
	}
	scopes := splitList(strings.ReplaceAll(*scope, " ", ","))
	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.httpClient())
	var resp *client.TokenResponse
	if fed.source != "" {
		resp, err = fed.exchange(ctx, server, scopes)
	} else {
		resp, err = client.Exchange(ctx, client.Config{Server: server, Key: key, Scope: scopes})
	}
	if err != nil {
		return explain(err, server)
	}
	if *asJSON {
		return printJSON(m.Stdout, resp)
	}
	fmt.Fprintln(m.Stdout, resp.AccessToken)
	return nil
}

// serverFlag returns the server a --server flag names, checked, or else the one m.server picks.
func (m *Main) serverFlag(flag string) (string, error) {
	if flag != "" {
		s, err := serverURL(flag)
		if err != nil {
			return "", usagef("--server: %v", err)
		}
		return s, nil
	}
	store, err := m.credentialStore()
	if err != nil {
		return "", err
	}
	stored, _ := store.load() // only for its server; a damaged file does not matter here
	return m.server(stored)
}
