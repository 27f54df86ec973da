package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/keyward/keyward/client"
)

const rolesSynopsis = "roles list [--search Q] [--limit N|--all] [--project P] [--json]\n" +
	"       keyward roles create NAME --permissions a,b [--description TEXT] [--project P] [--json]\n" +
	"       keyward roles edit NAME [--name NEW] [--permissions a,b] [--description TEXT] [--project P] [--json]\n" +
	"       keyward roles delete NAME [--project P]"

func (m *Main) roles(ctx context.Context, args []string) error {
	return m.dispatch(ctx, "roles", rolesSynopsis, []subcommand{
		{"list", m.rolesList},
		{"create", m.rolesCreate},
		{"edit", m.rolesEdit},
		{"delete", m.rolesDelete},
	}, args)
}

func (m *Main) rolesList(ctx context.Context, args []string) error {
	roles, ref, _, printed, err := pagedList[client.Role]{
		name: "roles list", what: "roles",
		help: "Lists a project's roles by name, or those --search finds, with how many members and API keys\n" +
			"hold each. Needs the members-view or the api-keys-view permission.",
		search: "a role id, or the beginning of role names (case and look-alike letters ignored)",
		page: func(ctx context.Context, r *remote, project string, opts client.ListOptions) (*client.Page[client.Role], error) {
			return r.RolesPage(ctx, project, opts)
		},
	}.run(ctx, m, args)
	if err != nil || printed {
		return err
	}
	if len(roles) == 0 {
		fmt.Fprintf(m.Stdout, "No role of project %s has that id or a name beginning so.\n", printable(ref))
		return nil
	}
	// The permissions come last: a long list then pads no other column.
	t := newTable(m.Stdout, "NAME", "MEMBERS", "KEYS", "PERMISSIONS")
	for _, role := range roles {
		perms := list(role.Permissions, "-")
		if role.Owner {
			perms = "every permission (the owner role, which cannot be changed)"
		}
		t.row(role.Name, strconv.Itoa(role.Members), strconv.Itoa(role.Keys), perms)
	}
	return t.flush()
}

func (m *Main) rolesCreate(ctx context.Context, args []string) error {
	fs := m.flagSet("roles create", "roles create NAME --permissions a,b [--description TEXT] [--project P] [--json]\n\n"+
		"Creates a role (a lower-case name such as release-manager) that members and API keys can then\n"+
		"hold. Needs the members-manage permission and every permission of the role.")
	project := projectFlag(fs)
	perms := fs.String("permissions", "", "comma-separated permissions, all of which you must hold (see 'keyward permissions')")
	description := fs.String("description", "", "what the role is for, up to 300 characters")
	asJSON := fs.Bool("json", false, "print the created role as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward roles create NAME --permissions a,b [--description TEXT]")
	}
	req := client.CreateRoleRequest{Name: rest[0], Description: *description, Permissions: splitList(*perms)}
	if len(req.Permissions) == 0 {
		return usagef("roles create: --permissions is required (see 'keyward permissions')")
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	role, err := r.CreateRole(ctx, ref, req)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, role)
	}
	fmt.Fprintf(m.Stdout, "Created role %s (id %s) in project %s: permissions %s.\n",
		printable(role.Name), role.ID, printable(ref), list(role.Permissions, "-"))
	return nil
}

func (m *Main) rolesEdit(ctx context.Context, args []string) error {
	fs := m.flagSet("roles edit", "roles edit NAME [--name NEW] [--permissions a,b] [--description TEXT] [--project P] [--json]\n\n"+
		"Changes a role's name, permissions or description; what is not given stays. The change applies\n"+
		"to every member and API key holding the role at once. One that takes a permission away ends\n"+
		"the sessions of the holders who now hold less: their current tokens stop working, members\n"+
		"sign in again and programs exchange their key again. Needs the members-manage permission and\n"+
		"every permission of the role, before and after. The owner role cannot be changed.")
	project := projectFlag(fs)
	name := fs.String("name", "", "the role's new name, unique in the project")
	perms := fs.String("permissions", "", "the role's permissions, comma-separated, replacing the current ones; all of them yours")
	description := fs.String("description", "", "the role's description, replacing the current one; empty: none")
	asJSON := fs.Bool("json", false, "print the edited role as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward roles edit NAME [--name NEW] [--permissions a,b] [--description TEXT]")
	}
	var req client.UpdateRoleRequest
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			req.Name = name
		case "permissions":
			if req.Permissions, err = replacedPermissions("roles edit", *perms); err != nil {
				bad = err
			}
		case "description":
			req.Description = description
		}
	})
	if bad != nil {
		return bad
	}
	if req == (client.UpdateRoleRequest{}) {
		return usagef("roles edit: nothing to change: give --name, --permissions or --description")
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	role, err := r.UpdateRole(ctx, ref, rest[0], req)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, role)
	}
	fmt.Fprintf(m.Stdout, "Updated role %s (id %s) in project %s: permissions %s; held by %s and %s.\n",
		printable(role.Name), role.ID, printable(ref), list(role.Permissions, "-"),
		plural(role.Members, "member", "members"), plural(role.Keys, "API key", "API keys"))
	return nil
}

func (m *Main) rolesDelete(ctx context.Context, args []string) error {
	fs := m.flagSet("roles delete", "roles delete NAME [--project P]\n\n"+
		"Deletes a role that no member or API key holds: give its holders another role first. Needs the\n"+
		"members-manage permission and every permission of the role. The owner role cannot be deleted.")
	project := projectFlag(fs)
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward roles delete NAME [--project P]")
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	if err := r.DeleteRole(ctx, ref, rest[0]); err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stdout, "Deleted role %s from project %s.\n", printable(rest[0]), printable(ref))
	return nil
}
