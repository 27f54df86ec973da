package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/apikey"
	"github.com/keyward/keyward/client"
)

const keysSynopsis = "keys list [--search Q] [--limit N|--all] [--project P] [--json]\n" +
	"       keyward keys create --name NAME [--role R] [--permissions a,b] [--ips cidr,…] [--expires T] [--project P] [--json]\n" +
	"       keyward keys edit ID|NAME [--name N] [--role R|--no-role] [--permissions a,b] [--ips cidr,…] [--expires T|--no-expiry] [--owner EMAIL|USERID] [--project P] [--json]\n" +
	"       keyward keys roll ID|NAME [--grace 1h] [--project P] [--json]\n" +
	"       keyward keys disable ID|NAME [--project P]\n" +
	"       keyward keys enable ID|NAME [--project P]\n" +
	"       keyward keys delete ID|NAME [--project P]"

func (m *Main) keys(ctx context.Context, args []string) error {
	return m.dispatch(ctx, "keys", keysSynopsis, []subcommand{
		{"list", m.keysList},
		{"create", m.keysCreate},
		{"edit", m.keysEdit},
		{"roll", m.keysRoll},
		{"disable", m.keysDisable},
		{"enable", m.keysEnable},
		{"delete", m.keysDelete},
	}, args)
}

// projectFlag adds --project, which KEYWARD_PROJECT sets too.
func projectFlag(fs *flag.FlagSet) *string {
	return fs.String("project", "", "the project, by name or id (default: KEYWARD_PROJECT, the API key's project, or your only project)")
}

// project returns the project the command acts on: the one named, else the API key's own, else
// the user's only project.
func (r *remote) project(ctx context.Context, named string) (string, error) {
	if named != "" {
		return named, nil
	}
	me, err := r.Me(ctx)
	if err != nil {
		return "", r.explain(err)
	}
	switch {
	case me.Key != nil:
		return me.Key.Project, nil
	case len(me.Projects) == 1:
		return me.Projects[0].Name, nil
	case len(me.Projects) == 0:
		return "", errors.New("you belong to no project yet: create one with 'keyward projects create NAME'")
	}
	names := make([]string, len(me.Projects))
	for i, p := range me.Projects {
		names[i] = printable(p.Name)
	}
	return "", usagef("give --project (or KEYWARD_PROJECT): you belong to %d projects (%s)", len(names), strings.Join(names, ", "))
}

// connectToProject connects to the server and picks the project the command acts on (see
// project).
func (m *Main) connectToProject(ctx context.Context, named string) (r *remote, ref string, err error) {
	if r, err = m.connect(ctx); err != nil {
		return nil, "", err
	}
	if ref, err = r.project(ctx, named); err != nil {
		return nil, "", err
	}
	return r, ref, nil
}

func (m *Main) keysList(ctx context.Context, args []string) error {
	keys, ref, search, printed, err := pagedList[client.Key]{
		name: "keys list", what: "keys",
		help: "Lists a project's API keys, oldest first, or those --search finds. Secrets are never shown: only\n" +
			"each key's id and last four characters.",
		search: "a key id, or the beginning of key names (case and look-alike letters ignored)",
		page: func(ctx context.Context, r *remote, project string, opts client.ListOptions) (*client.Page[client.Key], error) {
			return r.KeysPage(ctx, project, opts)
		},
	}.run(ctx, m, args)
	if err != nil || printed {
		return err
	}
	if len(keys) == 0 && search != "" {
		fmt.Fprintf(m.Stdout, "No API key of project %s has that id or a name beginning so.\n", printable(ref))
		return nil
	}
	if len(keys) == 0 {
		fmt.Fprintf(m.Stdout, "Project %s has no API keys. Create one with:\n  keyward keys create --project %s --name NAME --permissions PERMISSION,…\n", printable(ref), printable(ref))
		return nil
	}
	t := newTable(m.Stdout, "NAME", "ID", "HINT", "STATE", "ROLE", "PERMISSIONS", "IPS", "CREATED", "LAST USED", "EXPIRES")
	for _, k := range keys {
		t.row(k.Name, k.ID, "…"+k.Hint, stateCell(k), roleCell(k.Role), list(k.Permissions, "-"), list(k.IPs, "any"),
			when(&k.CreatedAt), when(k.LastUsedAt), when(k.ExpiresAt))
	}
	return t.flush()
}

func (m *Main) keysCreate(ctx context.Context, args []string) error {
	fs := m.flagSet("keys create", "keys create --name NAME [--role R] [--permissions a,b] [--ips cidr,…] [--expires T] [--project P] [--json]\n\n"+
		"Creates an API key and prints it on standard output, this once: the server keeps only its hash.\n"+
		"KEY=$(keyward keys create …) captures it; the notice goes to standard error. The key holds a\n"+
		"role, permissions of its own, or both.")
	project := projectFlag(fs)
	name := fs.String("name", "", "the key's name, unique in the project (required)")
	perms := fs.String("permissions", "", "comma-separated permissions, all of which you must hold (see 'keyward permissions')")
	role := fs.String("role", "", "a role of the project, by name or id, all of whose permissions you must hold (see 'keyward roles list')")
	ips := fs.String("ips", "", "the key's allowed IPs: comma-separated addresses or CIDRs it may be used from (default: any)")
	expires := fs.String("expires", "", "when the key stops working: a date (2030-01-31, the start of that day in UTC), an RFC 3339 time, or a duration from now such as 720h or 90d (default: never)")
	asJSON := fs.Bool("json", false, "print the created key, secret included, as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("keys create takes no arguments, got %q (the name goes in --name)", rest[0])
	}
	if *name == "" {
		return usagef("keys create: --name is required")
	}
	req := client.CreateKeyRequest{Name: *name, Permissions: splitList(*perms), Role: strings.TrimSpace(*role), IPs: splitList(*ips)}
	if len(req.Permissions) == 0 && req.Role == "" {
		return usagef("keys create: --permissions or --role is required (see 'keyward permissions' and 'keyward roles list')")
	}
	if *expires != "" {
		t, err := parseExpiry(*expires, m.now())
		if err != nil {
			return err
		}
		req.ExpiresAt = &t
	}
	r, ref, err := m.connectToProject(ctx, *project)
	if err != nil {
		return err
	}
	k, err := r.CreateKey(ctx, ref, req)
	if err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stderr, "Created API key %q (id %s) in project %s.\n"+
		"Store it now, in a secret manager or your CI's secrets: it is shown this once and cannot be recovered.\n",
		printable(k.Name), k.ID, printable(ref))
	if *asJSON {
		return printJSON(m.Stdout, k)
	}
	fmt.Fprintln(m.Stdout, k.Secret)
	return nil
}

func (m *Main) keysEdit(ctx context.Context, args []string) error {
	fs := m.flagSet("keys edit", "keys edit ID|NAME [--name N] [--role R|--no-role] [--permissions a,b] [--ips cidr,…] [--expires T|--no-expiry] [--owner EMAIL|USERID] [--project P] [--json]\n\n"+
		"Changes an API key's name, role, permissions, allowed IPs, expiry or owner; what is not given stays.\n"+
		"The key and its secret stay the same. An edit that takes something away (a role's permission, a\n"+
		"permission, an address, an earlier expiry) ends the key's current tokens at once; programs\n"+
		"exchange the key again.\n"+
		"--owner hands the key to another member who holds its permissions, and enables a key that its\n"+
		"owner's departure disabled; a leaked key stays disabled until it is rolled.")
	project := fs.String("project", "", "the project, by name or id (default: KEYWARD_PROJECT, else the project that holds the key)")
	name := fs.String("name", "", "the key's new name, unique in the project")
	perms := fs.String("permissions", "", "the key's permissions, comma-separated, replacing the current ones; all of them yours")
	role := fs.String("role", "", "the key's role, by name or id, replacing the current one; all its permissions yours")
	noRole := fs.Bool("no-role", false, "the key holds no role, only its own permissions")
	ips := fs.String("ips", "", "the key's allowed IPs, comma-separated addresses or CIDRs, replacing the current ones; empty: any")
	expires := fs.String("expires", "", "when the key stops working: a date, an RFC 3339 time, or a duration from now such as 720h or 90d")
	noExpiry := fs.Bool("no-expiry", false, "the key never expires")
	owner := fs.String("owner", "", "the member the key now belongs to, by email or user id; they, and you, must hold its permissions")
	asJSON := fs.Bool("json", false, "print the edited key as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward keys edit ID|NAME [--name N] [--role R|--no-role] [--permissions a,b] [--ips cidr,…] [--expires T|--no-expiry] [--owner EMAIL|USERID]")
	}
	var req client.UpdateKeyRequest
	var bad error
	var noneRole *string // --no-role: sent as the empty role
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			req.Name = name
		case "permissions":
			if req.Permissions, err = replacedPermissions("keys edit", *perms); err != nil {
				bad = err
			}
		case "role":
			if strings.TrimSpace(*role) == "" {
				bad = usagef("keys edit: --role needs a role's name or id; --no-role takes the key's role away")
			}
			req.Role = role
		case "no-role":
			if *noRole {
				none := ""
				noneRole = &none
			}
		case "ips":
			list := splitList(*ips)
			req.IPs = &list
		case "expires":
			t, err := parseExpiry(*expires, m.now())
			if err != nil {
				bad = err
			}
			req.ExpiresAt = &t
		case "no-expiry":
			req.NoExpiry = *noExpiry
		case "owner":
			if strings.TrimSpace(*owner) == "" {
				bad = usagef("keys edit: --owner needs a member's email or user id")
			}
			req.Owner = owner
		}
	})
	if bad != nil {
		return bad
	}
	if req.ExpiresAt != nil && req.NoExpiry {
		return usagef("keys edit: give --expires or --no-expiry, not both")
	}
	if noneRole != nil {
		if req.Role != nil {
			return usagef("keys edit: give --role or --no-role, not both")
		}
		req.Role = noneRole
	}
	if req.Name == nil && req.Permissions == nil && req.IPs == nil && req.ExpiresAt == nil && !req.NoExpiry && req.Owner == nil && req.Role == nil {
		return usagef("keys edit: nothing to change: give --name, --role, --no-role, --permissions, --ips, --expires, --no-expiry or --owner")
	}
	r, ref, id, err := m.connectToKey(ctx, *project, rest[0])
	if err != nil {
		return err
	}
	ownerName := ""
	if req.Owner != nil {
		// An email is looked up among the project's members; an id goes as it is, and the
		// server answers alike for one that is no member and one that does not exist.
		if ownerName = strings.TrimSpace(*req.Owner); strings.Contains(ownerName, "@") {
			members, err := r.Members(ctx, ref)
			if err != nil {
				return r.explain(err)
			}
			i := slices.IndexFunc(members, func(mb client.Member) bool { return strings.EqualFold(mb.Email, ownerName) })
			if i < 0 {
				return fmt.Errorf("keys edit: no member of project %s has the email %s: the new owner must be a member of the key's project", printable(ref), printable(ownerName))
			}
			req.Owner = &members[i].User
		} else {
			req.Owner = &ownerName
		}
	}
	k, err := r.UpdateKey(ctx, ref, id, req)
	if err != nil {
		return r.explain(err)
	}
	if *asJSON {
		return printJSON(m.Stdout, k)
	}
	fmt.Fprintf(m.Stdout, "Updated API key %q (id %s) in project %s: role %s, permissions %s, IPs %s, expires %s.\n",
		printable(k.Name), k.ID, printable(ref), roleCell(k.Role), list(k.Permissions, "-"), list(k.IPs, "any"), when(k.ExpiresAt))
	if req.Owner != nil {
		fmt.Fprintf(m.Stdout, "It now belongs to %s (%s).\n", printable(ownerName), k.Owner)
	}
	return nil
}

func (m *Main) keysRoll(ctx context.Context, args []string) error {
	fs := m.flagSet("keys roll", "keys roll ID|NAME [--grace 1h] [--project P] [--json]\n\n"+
		"Gives an API key a new secret and prints it on standard output, this once, as keys create does;\n"+
		"the key's id and settings stay. The old secret keeps working for the grace period, then stops,\n"+
		"and the tokens it was exchanged for end: replace the key where it is used before then.")
	project := fs.String("project", "", "the project, by name or id (default: KEYWARD_PROJECT, else the project that holds the key)")
	grace := fs.Duration("grace", time.Hour, "how long the old secret keeps working, from 0s to 24h")
	asJSON := fs.Bool("json", false, "print the rolled key, new secret included, as JSON")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward keys roll ID|NAME [--grace 1h] [--project P] [--json]")
	}
	if *grace < 0 || *grace > 24*time.Hour {
		return usagef("keys roll: --grace must be from 0s to 24h, got %s", *grace)
	}
	r, ref, id, err := m.connectToKey(ctx, *project, rest[0])
	if err != nil {
		return err
	}
	k, err := r.RollKey(ctx, ref, id, *grace)
	if err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stderr, "Rolled API key %q (id %s) in project %s; the old secret works until %s.\n"+
		"Store the new one now, in a secret manager or your CI's secrets: it is shown this once and cannot be recovered.\n",
		printable(k.Name), k.ID, printable(ref), when(k.PreviousExpiresAt))
	if *asJSON {
		return printJSON(m.Stdout, k)
	}
	fmt.Fprintln(m.Stdout, k.Secret)
	return nil
}

func (m *Main) keysDisable(ctx context.Context, args []string) error {
	return m.keysSetDisabled(ctx, "keys disable", true, args, "keys disable ID|NAME [--project P]\n\n"+
		"Disables an API key: every token it was exchanged for stops working at once, and it exchanges\n"+
		"no more until 'keyward keys enable' enables it. Its secret and settings stay. Needs the\n"+
		"api-keys-manage permission.")
}

func (m *Main) keysEnable(ctx context.Context, args []string) error {
	return m.keysSetDisabled(ctx, "keys enable", false, args, "keys enable ID|NAME [--project P]\n\n"+
		"Enables an API key that a member disabled; it exchanges again with the secret it had. A key\n"+
		"disabled because its secret leaked is enabled by 'keyward keys roll', one whose owner left by\n"+
		"'keyward keys edit --owner'. Needs the api-keys-manage permission and every permission of the key.")
}

// keysSetDisabled is keys disable (disabled) and keys enable.
func (m *Main) keysSetDisabled(ctx context.Context, name string, disabled bool, args []string, synopsis string) error {
	fs := m.flagSet(name, synopsis)
	project := fs.String("project", "", "the project, by name or id (default: KEYWARD_PROJECT, else the project that holds the key)")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward %s ID|NAME [--project P]", name)
	}
	r, ref, id, err := m.connectToKey(ctx, *project, rest[0])
	if err != nil {
		return err
	}
	k, err := r.UpdateKey(ctx, ref, id, client.UpdateKeyRequest{Disabled: &disabled})
	if err != nil {
		return r.explain(err)
	}
	if disabled {
		fmt.Fprintf(m.Stdout, "Disabled API key %q (id %s) in project %s; its tokens stop working at once. 'keyward keys enable %s' enables it again.\n",
			printable(k.Name), k.ID, printable(ref), k.ID)
		return nil
	}
	// The state says "expired" for a key enabled past its expiry.
	fmt.Fprintf(m.Stdout, "Enabled API key %q (id %s) in project %s: %s.\n", printable(k.Name), k.ID, printable(ref), stateCell(*k))
	return nil
}

func (m *Main) keysDelete(ctx context.Context, args []string) error {
	fs := m.flagSet("keys delete", "keys delete ID|NAME [--project P]\n\n"+
		"Deletes an API key. Every token it was exchanged for stops working at once. An id (or the\n"+
		"whole key) is found in whichever of your projects holds it; a name, in your projects unless\n"+
		"--project names one.")
	project := fs.String("project", "", "the project, by name or id (default: KEYWARD_PROJECT, else the project that holds the key)")
	rest, err := m.parseArgs(fs, args, "project")
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: keyward keys delete ID|NAME [--project P]")
	}
	r, ref, id, err := m.connectToKey(ctx, *project, rest[0])
	if err != nil {
		return err
	}
	if err := r.DeleteKey(ctx, ref, id); err != nil {
		return r.explain(err)
	}
	fmt.Fprintf(m.Stdout, "Deleted API key %s from project %s; its tokens stop working at once.\n", id, printable(ref))
	return nil
}

// connectToKey connects to the server and finds the key target (see findKey), for the commands
// that act on one key.
func (m *Main) connectToKey(ctx context.Context, project, target string) (r *remote, ref, id string, err error) {
	if r, err = m.connect(ctx); err != nil {
		return nil, "", "", err
	}
	if ref, id, err = r.findKey(ctx, project, target); err != nil {
		return nil, "", "", err
	}
	return r, ref, id, nil
}

// findKey finds the key with id, name or whole key target, in the named project or, when none is named, in
// the API key's own project or any of the user's: key ids are unique across projects, so an id
// needs no project; a name found in several projects does.
func (r *remote) findKey(ctx context.Context, named, target string) (project, id string, err error) {
	// A whole key pasted in (say, one that `keyward scan` found) names its id.
	if id, err := apikey.Parse(target); err == nil {
		target = id
	}
	refs := []string{named}
	if named == "" {
		me, err := r.Me(ctx)
		if err != nil {
			return "", "", r.explain(err)
		}
		refs = nil
		if me.Key != nil {
			refs = []string{me.Key.Project}
		} else {
			for _, p := range me.Projects {
				refs = append(refs, p.Name)
			}
		}
	}
	type match struct{ project, id string }
	var byID, byName []match
	for _, ref := range refs {
		// The search finds the key of that id, or the keys whose name begins like target, the
		// exact name first: one page holds the match.
		page, err := r.KeysPage(ctx, ref, client.ListOptions{Limit: 1000, Search: target})
		if err != nil && (len(refs) == 1 || !isStatus(err, http.StatusForbidden)) {
			return "", "", r.explain(err)
		}
		var keys []client.Key
		if page != nil {
			keys = page.Data
		}
		for _, k := range keys {
			if k.ID == target {
				byID = append(byID, match{ref, k.ID})
			} else if k.Name == target {
				byName = append(byName, match{ref, k.ID})
			}
		}
	}
	switch {
	case len(byID) > 0:
		return byID[0].project, byID[0].id, nil
	case len(byName) == 1:
		return byName[0].project, byName[0].id, nil
	case len(byName) > 1:
		names := make([]string, len(byName))
		for i, m := range byName {
			names[i] = printable(m.project)
		}
		return "", "", usagef("keys delete: projects %s each have a key named %q: give --project, or the key's id", strings.Join(names, ", "), printable(target))
	case len(refs) == 1:
		return "", "", fmt.Errorf("project %s has no API key with id or name %q", printable(refs[0]), printable(target))
	case len(refs) == 0:
		return "", "", errors.New("you belong to no project yet, so there is no API key to delete")
	}
	return "", "", fmt.Errorf("none of your projects has an API key with id or name %q", printable(target))
}

func isStatus(err error, status int) bool {
	var p *client.Problem
	return errors.As(err, &p) && p.Status == status
}

// replacedPermissions reads the --permissions of an edit command (cmd), which replace the current
// ones and so must name at least one.
func replacedPermissions(cmd, value string) (*[]string, error) {
	p := splitList(value)
	if len(p) == 0 {
		return nil, usagef("%s: --permissions needs at least one permission (see 'keyward permissions')", cmd)
	}
	return &p, nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseExpiry reads --expires: an RFC 3339 time, a date (the start of that day in UTC, as the
// dashboard takes it), a Go duration (720h), or a number of days (90d).
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 36500 {
			return time.Time{}, usagef("--expires %q: give a number of days between 1 and 36500, such as 90d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			return time.Time{}, usagef("--expires %q: give a date (2030-01-31), an RFC 3339 time (2030-01-31T12:00:00Z) or a duration from now (720h, 90d)", s)
		}
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}

// stateCell is a key's state as keys list shows it: "active", "expired", or "disabled" with its
// reason (leaked, owner_removed, …), so that a leaked key stands out.
func stateCell(k client.Key) string {
	if k.State == "disabled" && k.DisabledReason != "" {
		return "disabled (" + k.DisabledReason + ")"
	}
	if k.State == "" {
		return "-"
	}
	return k.State
}
