package main

import (
	"context"
	"fmt"
	"strconv"
)

const projectsSynopsis = "projects list [--json] | projects create NAME [--json]"

func (m *Main) projects(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("projects: give a command: list or create ('keyward projects -h' shows how)")
	}
	switch args[0] {
	case "list":
		return m.projectsList(ctx, args[1:])
	case "create":
		return m.projectsCreate(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(m.Stderr, "Usage: keyward %s\n", projectsSynopsis)
		return nil
	}
	return unknownCommand("keyward projects", args[0], []string{"list", "create"})
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
		"Creates a project (a lower-case name such as web-shop); you become its member with every permission.")
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

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
