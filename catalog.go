package keyward

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Permission is one entry of the permission catalog.
type Permission struct {
	Name        string `json:"name"`
	Group       string `json:"group"`
	Description string `json:"description"`
}

// Catalog is the complete, ordered list of permissions the platform's API understands.
type Catalog struct {
	perms []Permission
	index map[string]int
}

var permissionName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// NewCatalog validates perms (lower-kebab-case names, unique, with a group) and returns a catalog.
func NewCatalog(perms []Permission) (*Catalog, error) {
	if len(perms) == 0 {
		return nil, Errorf(EINVALID, "The permission catalog is empty.")
	}
	c := &Catalog{perms: slices.Clone(perms), index: make(map[string]int, len(perms))}
	for i, p := range perms {
		if len(p.Name) > 64 || !permissionName.MatchString(p.Name) {
			return nil, Errorf(EINVALID, "Permission %q is not a lower-kebab-case name of at most 64 characters.", p.Name)
		}
		if p.Group == "" {
			return nil, Errorf(EINVALID, "Permission %q has no group.", p.Name)
		}
		if _, dup := c.index[p.Name]; dup {
			return nil, Errorf(EINVALID, "Permission %q appears twice.", p.Name)
		}
		c.index[p.Name] = i
	}
	return c, nil
}

// ParseCatalog reads a JSON array of {name, group, description} objects, strictly. Its errors name
// the entry and the line that is wrong.
func ParseCatalog(r io.Reader) (*Catalog, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read permission catalog: %w", err)
	}
	notArray := func(why string) error {
		return Errorf(EINVALID, "The permission catalog must be a JSON array of {name, group, description} objects: %s.", why)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil {
		return nil, notArray(jsonProblem(data, err))
	} else if tok != json.Delim('[') {
		return nil, notArray("it does not start with [")
	}
	var perms []Permission
	for dec.More() {
		n := len(perms) + 1
		at := fmt.Sprintf("entry %d (line %d)", n, lineAt(data, dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, Errorf(EINVALID, "The permission catalog is not valid JSON: %s.", jsonProblem(data, err))
		}
		entry := json.NewDecoder(bytes.NewReader(raw))
		entry.DisallowUnknownFields()
		var p Permission
		if err := entry.Decode(&p); err != nil {
			var typeErr *json.UnmarshalTypeError
			switch {
			case errors.As(err, &typeErr) && typeErr.Field != "":
				return nil, Errorf(EINVALID, "The permission catalog's %s: %q must be a string, not %s.", at, typeErr.Field, article(typeErr.Value))
			case errors.As(err, &typeErr):
				return nil, Errorf(EINVALID, "The permission catalog's %s is %s, not an object {name, group, description}.", at, article(typeErr.Value))
			case strings.HasPrefix(err.Error(), "json: unknown field "):
				return nil, Errorf(EINVALID, "The permission catalog's %s has the unknown field %s; an entry has name, group and description.", at, strings.TrimPrefix(err.Error(), "json: unknown field "))
			}
			return nil, Errorf(EINVALID, "The permission catalog's %s: %s.", at, jsonProblem(raw, err))
		}
		perms = append(perms, p)
	}
	if _, err := dec.Token(); err != nil {
		return nil, notArray(jsonProblem(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(EINVALID, "The permission catalog has data after its JSON array (line %d).", lineAt(data, dec.InputOffset()))
	}
	return NewCatalog(perms)
}

// jsonProblem describes a JSON decoding error of data without the decoder's Go vocabulary.
func jsonProblem(data []byte, err error) string {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("line %d: %s", lineAt(data, syntax.Offset), strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(data)) == 0:
		return "the file is empty"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the file ends before the JSON does"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// lineAt is the line number of the first character at or after offset that is not blank or a
// separator, or of the last line when there is none.
func lineAt(data []byte, offset int64) int {
	i := int(min(max(offset, 0), int64(len(data))))
	for i < len(data) && strings.IndexByte(" \t\r\n,:", data[i]) >= 0 {
		i++
	}
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

// article prefixes a JSON kind ("number", "array", "object") with its article.
func article(kind string) string {
	if kind != "" && strings.IndexByte("aeiou", kind[0]) >= 0 {
		return "an " + kind
	}
	return "a " + kind
}

// All returns the catalog's permissions in order.
func (c *Catalog) All() []Permission { return slices.Clone(c.perms) }

// Names returns every permission name in catalog order.
func (c *Catalog) Names() []string {
	names := make([]string, len(c.perms))
	for i, p := range c.perms {
		names[i] = p.Name
	}
	return names
}

// Has reports whether name is in the catalog.
func (c *Catalog) Has(name string) bool {
	_, ok := c.index[name]
	return ok
}

// Lookup returns the permission called name.
func (c *Catalog) Lookup(name string) (Permission, bool) {
	i, ok := c.index[name]
	if !ok {
		return Permission{}, false
	}
	return c.perms[i], true
}

// Normalize checks that every name is in the catalog and returns them de-duplicated, in catalog
// order, so that equal sets always compare and print equal.
func (c *Catalog) Normalize(names []string) ([]string, error) {
	seen := make(map[int]bool, len(names))
	for _, n := range names {
		i, ok := c.index[n]
		if !ok {
			return nil, Errorf(EINVALID, "Unknown permission %q.", n)
		}
		seen[i] = true
	}
	out := make([]string, 0, len(seen))
	for i, p := range c.perms {
		if seen[i] {
			out = append(out, p.Name)
		}
	}
	return out, nil
}

// Filter returns the names that are in the catalog, in catalog order, silently dropping the rest;
// it is used when re-reading stored permissions after the operator changed the catalog.
func (c *Catalog) Filter(names []string) []string {
	seen := make(map[int]bool, len(names))
	for _, n := range names {
		if i, ok := c.index[n]; ok {
			seen[i] = true
		}
	}
	out := make([]string, 0, len(seen))
	for i, p := range c.perms {
		if seen[i] {
			out = append(out, p.Name)
		}
	}
	return out
}

// Subset reports whether every name in sub is in set.
func Subset(sub, set []string) bool {
	for _, s := range sub {
		if !slices.Contains(set, s) {
			return false
		}
	}
	return true
}

// Union returns the names of a followed by those of b that a lacks.
func Union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Intersect returns the names of a that are also in b, in a's order.
func Intersect(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, s := range a {
		if slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// ManagementPermissions are the permissions keyward's own API and dashboard check: without them
// in the catalog nobody could list or change members, create or delete keys, or read the audit
// log, so a catalog must contain them all (MissingManagement).
func ManagementPermissions() []string {
	return []string{"members-view", "members-manage", "api-keys-view", "api-keys-manage", "audit-view"}
}

// MissingManagement returns the ManagementPermissions that the catalog lacks, in that order.
func (c *Catalog) MissingManagement() []string {
	var missing []string
	for _, name := range ManagementPermissions() {
		if !c.Has(name) {
			missing = append(missing, name)
		}
	}
	return missing
}

// DefaultCatalog returns the built-in catalog, which describes a container platform.
func DefaultCatalog() *Catalog {
	c, err := NewCatalog(defaultPermissions)
	if err != nil {
		panic(err) // the built-in list is fixed; a test proves it valid
	}
	return c
}

var defaultPermissions = []Permission{
	{"projects-view", "Projects", "See the project's settings."},
	{"projects-manage", "Projects", "Rename the project and change its settings."},
	{"members-view", "Members", "See the project's members and their permissions."},
	{"members-manage", "Members", "Add and remove members and change their permissions (never beyond your own)."},
	{"api-keys-view", "API keys", "List the project's API keys (never their secrets)."},
	{"api-keys-manage", "API keys", "Create, edit, roll and delete the project's API keys."},
	{"api-keys-roll-self", "API keys", "Roll the API key you act as: give it a new secret, the old one working through a grace period."},
	{"audit-view", "Audit", "Read the project's audit log."},
	{"containers-view", "Containers", "List containers and read their status and logs."},
	{"containers-manage", "Containers", "Create, start, stop and delete containers."},
	{"containers-exec", "Containers", "Open a shell or run a command inside a running container."},
	{"environments-view", "Environments", "List environments and read their variables (secret values stay hidden)."},
	{"environments-manage", "Environments", "Create and delete environments and set their variables."},
	{"images-view", "Images", "List images and tags in the project's registry."},
	{"images-manage", "Images", "Push and delete images."},
	{"dns-view", "DNS", "List the project's domains and records."},
	{"dns-manage", "DNS", "Add, change and delete domains and records."},
	{"billing-view", "Billing", "See invoices, usage and the payment method."},
	{"billing-manage", "Billing", "Change the plan and the payment method."},
}
