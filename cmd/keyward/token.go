package main

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward/client"
)

func (m *Main) token(ctx context.Context, args []string) error {
	fs := m.flagSet("token", "token [--scope a,b] [--json]\n\n"+
		"Exchanges the API key in KEYWARD_API_KEY at the server's token endpoint and prints the access\n"+
		"token, for the Authorization: Bearer header of calls to your API. The key never leaves for the API.")
	scope := fs.String("scope", "", "comma-separated permissions to narrow the token to (default: all of the key's)")
	asJSON := fs.Bool("json", false, "print the whole token response as JSON, refresh token included")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("token takes no arguments, got %q (the key goes in KEYWARD_API_KEY, not on the command line)", rest[0])
	}
	key := strings.TrimSpace(m.Getenv("KEYWARD_API_KEY"))
	if key == "" {
		return usagef("token: set KEYWARD_API_KEY to the API key to exchange")
	}
	store, err := m.credentialStore()
	if err != nil {
		return err
	}
	stored, _ := store.load()
	server, err := m.server(stored)
	if err != nil {
		return err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, m.httpClient())
	resp, err := client.Exchange(ctx, client.Config{Server: server, Key: key, Scope: splitList(strings.ReplaceAll(*scope, " ", ","))})
	if err != nil {
		return explain(err, server)
	}
	if *asJSON {
		return printJSON(m.Stdout, resp)
	}
	fmt.Fprintln(m.Stdout, resp.AccessToken)
	return nil
}
