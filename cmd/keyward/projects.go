package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyward/keyward/client"
)

const projectsSynopsis = "projects list [--json] | projects create NAME [--json] | projects rename PROJECT NEW-NAME [--json] | projects policy PROJECT [flags] | projects delete PROJECT --yes"

func (m *Main) projects(ctx context.Context, args []string) error {
	return m.dispatch(ctx, "projects", projectsSynopsis, []subcommand{
		{"list", m.projectsList},
		{"create", m.projectsCreate},
		{"rename", m.projectsRename},
		{"policy", m.projectsPolicy},
		{"delete", m.projectsDelete},
	}, args)
}

func (m *Main) projectsList(ctx context.Context, args []string) error {
	fs := m.flagSet("projects list", "projects list [--json]\n\nLists the projects you belong to, with your permissions in each.")
	asJSON := fs.Bool("json", false, "print a JSON array of projects")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("projects list takes no arguments, got %q", rest[0])
	}
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	projects, err := r.Projects(ctx)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, nonNil(projects))
	}
	t := newTable(m.Stdout, "NAME", "ID", "CREATED", "YOUR PERMISSIONS")
	for _, p := range projects {
		t.row(p.Name, p.ID, when(&p.CreatedAt), strconv.Itoa(len(p.Permissions)))
	}
	return t.flush()
}

func (m *Main) projectsCreate(ctx context.Context, args []string) error {
	fs := m.flagSet("projects create", "projects create NAME [--json]\n\n"+
		"Creates a project (a lower-case name such as web-shop) with the roles owner, admin, developer and\n"+
		"viewer; you become its member holding the owner role.")
	asJSON := fs.Bool("json", false, "print the project as JSON")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward projects create NAME")
	}
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	p, err := r.CreateProject(ctx, rest[0])
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, p)
	}
	fmt.Fprintf(m.Stdout, "Created project %s (%s).\n", printable(p.Name), p.ID)
	return nil
}

func (m *Main) projectsRename(ctx context.Context, args []string) error {
	fs := m.flagSet("projects rename", "projects rename PROJECT NEW-NAME [--json]\n\n"+
		"Renames a project (named by id or name); needs the projects-manage permission.")
	asJSON := fs.Bool("json", false, "print the project as JSON")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("usage: keyward projects rename PROJECT NEW-NAME")
	}
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	p, err := r.RenameProject(ctx, rest[0], rest[1])
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, p)
	}
	fmt.Fprintf(m.Stdout, "Renamed project %s to %s (%s).\n", printable(rest[0]), printable(p.Name), p.ID)
	return nil
}

func (m *Main) projectsPolicy(ctx context.Context, args []string) error {
	fs := m.flagSet("projects policy", "projects policy PROJECT [--require-expiry=true|false] [--max-lifetime DURATION]\n"+
		"    [--require-ips=true|false] [--require-dpop=true|false] [--json]\n\n"+
		"Shows what a project requires of its API keys or, with flags, changes it (the flags left out keep\n"+
		"their value); changing it needs the projects-manage permission. Keys are checked at creation,\n"+
		"edit and roll; DPoP applies to every key at once.")
	requireExpiry := fs.Bool("require-expiry", false, "every key must have an expiry")
	maxLifetime := fs.String("max-lifetime", "", "every key must expire within this (such as 2160h for 90 days; 0 for no maximum)")
	requireIPs := fs.Bool("require-ips", false, "every key must be restricted to IP addresses or networks")
	requireDPoP := fs.Bool("require-dpop", false, "every key exchanges only with a DPoP proof (RFC 9449)")
	asJSON := fs.Bool("json", false, "print the project as JSON")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward projects policy PROJECT [flags]")
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	p, err := r.Project(ctx, rest[0])
	if err != nil {
		return r.explain(err)
	}
	// Only what the flags name is sent: the key policy is replaced whole, from the one just read.
	var req client.RenameProjectRequest
	if given["require-expiry"] || given["max-lifetime"] || given["require-ips"] {
		policy := p.KeyPolicy
		if given["require-expiry"] {
			policy.RequireExpiry = *requireExpiry
		}
		if given["max-lifetime"] {
			policy.MaxLifetime = *maxLifetime
		}
		if given["require-ips"] {
			policy.RequireIPs = *requireIPs
		}
		req.KeyPolicy = &policy
	}
	if given["require-dpop"] {
		req.RequireDPoP = requireDPoP
	}
	if req.KeyPolicy != nil || req.RequireDPoP != nil {
		if p, err = r.UpdateProject(ctx, rest[0], req); err != nil {
			return r.explain(err)
		}
	}
	if *asJSON {
		return printJSON(m.Stdout, p)
	}
	var rules []string
	switch kp := p.KeyPolicy; {
	case kp.MaxLifetime != "" && kp.MaxLifetime != "0":
		rules = append(rules, "an expiry within "+kp.MaxLifetime)
	case kp.RequireExpiry:
		rules = append(rules, "an expiry")
	}
	if p.KeyPolicy.RequireIPs {
		rules = append(rules, "an IP restriction")
	}
	if p.RequireDPoP {
		rules = append(rules, "DPoP proofs")
	}
	if len(rules) == 0 {
		fmt.Fprintf(m.Stdout, "Project %s requires nothing of its API keys.\n", printable(p.Name))
		return nil
	}
	fmt.Fprintf(m.Stdout, "Project %s requires of every API key: %s.\n", printable(p.Name), strings.Join(rules, ", "))
	return nil
}

func (m *Main) projectsDelete(ctx context.Context, args []string) error {
	fs := m.flagSet("projects delete", "projects delete PROJECT --yes\n\n"+
		"Deletes a project (named by id or name) with its members and API keys; every token of it\n"+
		"stops working at once. Only an owner of the project (a member holding the owner role) may.")
	yes := fs.Bool("yes", false, "confirm the deletion, which cannot be undone")
	rest, err := m.parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward projects delete PROJECT --yes")
	}
	if !*yes {
		return usagef("projects delete: deleting %s ends every API key and token of it and cannot be undone; add --yes to confirm", printable(rest[0]))
	}
	r, err := m.connect(ctx)
	if err != nil {
		return err
	}
	if err := r.DeleteProject(ctx, rest[0]); err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stdout, "Deleted project %s; its API keys and tokens stop working at once.\n", printable(rest[0]))
	return nil
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
