package main

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/client"
)

func (m *Main) permissions(ctx context.Context, args []string) error {
	fs := m.flagSet("permissions", "permissions [--json]\n\nLists the server's permission catalog, by group: what API keys and members may be given.")
	asJSON := fs.Bool("json", false, "print a JSON array of {name, group, description}")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("permissions takes no arguments, got %q", rest[0])
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
	// The catalog is public: no login is needed to read it.
	perms, err := client.New(server, nil, client.WithHTTPClient(m.httpClient()), client.WithUserAgent(userAgent)).Permissions(ctx)
	if err != nil {
		return explain(err, server)
	}
	if *asJSON {
		return printJSON(m.Stdout, nonNil(perms))
	}
	// Groups in the order the catalog first names them, each with its permissions in order.
	var groups []string
	byGroup := map[string][]client.Permission{}
	for _, p := range perms {
		if _, seen := byGroup[p.Group]; !seen {
			groups = append(groups, p.Group)
		}
		byGroup[p.Group] = append(byGroup[p.Group], p)
	}
	width := 0
	for _, p := range perms {
		width = max(width, len(p.Name))
	}
	for i, g := range groups {
		if i > 0 {
			fmt.Fprintln(m.Stdout)
		}
		fmt.Fprintln(m.Stdout, printable(g))
		for _, p := range byGroup[g] {
			fmt.Fprintf(m.Stdout, "  %-*s  %s\n", width, printable(p.Name), printable(p.Description))
		}
	}
	_, err = fmt.Fprintf(m.Stdout, "\n%d permissions in %d groups.\n", len(perms), len(groups))
	return err
}
