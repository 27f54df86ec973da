package keyward_test

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

func TestDefaultCatalogDescribesAContainerPlatform(t *testing.T) {
	c := keyward.DefaultCatalog()
	for _, group := range []string{"projects", "members", "api-keys", "audit", "containers", "environments", "images", "dns", "billing"} {
		if !c.Has(group+"-view") && !c.Has(group+"-manage") {
			t.Errorf("default catalog has no %s permission", group)
		}
	}
	for _, p := range c.All() {
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
	}
}

func TestParseCatalog(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"valid", `[{"name":"a-view","group":"A","description":"d"}]`, ""},
		{"empty", `[]`, "empty"},
		{"not kebab", `[{"name":"A_View","group":"A","description":"d"}]`, "lower-kebab-case"},
		{"duplicate", `[{"name":"a","group":"A"},{"name":"a","group":"A"}]`, "twice"},
		{"no group", `[{"name":"a"}]`, "no group"},
		{"unknown field", `[{"name":"a","group":"A","extra":1}]`, `entry 1 (line 1) has the unknown field "extra"`},
		{"wrong type", "[\n {\"name\":\"a\",\"group\":\"A\"},\n {\"name\":1,\"group\":\"A\"}\n]", `entry 2 (line 3): "name" must be a string, not a number`},
		{"entry not an object", `[{"name":"a","group":"A"}, "b"]`, "entry 2 (line 1) is a string, not an object"},
		{"object, not array", `{"name":"a","group":"A"}`, "must be a JSON array"},
		{"trailing data", `[{"name":"a","group":"A"}] []`, "after its JSON array"},
		{"not json", `name: a`, "must be a JSON array"},
		{"syntax", "[\n{\"name\":\"a\",\"group\":\"A\"}\n{\"name\":\"b\"}]", "line 3: "},
		{"truncated", `[{"name":"a","group":"A"},`, "ends before the JSON does"},
		{"empty file", ``, "the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := keyward.ParseCatalog(strings.NewReader(tt.in))
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("ParseCatalog: %v", err)
				}
				return
			}
			if keyward.ErrorCode(err) != keyward.EINVALID || !strings.Contains(keyward.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("got %v, want EINVALID containing %q", err, tt.wantErr)
			}
			if msg := keyward.ErrorMessage(err); strings.Contains(msg, "Go ") || strings.Contains(msg, "json:") || strings.Contains(msg, "type ") {
				t.Fatalf("the message speaks of the decoder, not of the file: %q", msg)
			}
		})
	}
}

func TestNormalizeOrdersAndDeduplicates(t *testing.T) {
	c := keyward.DefaultCatalog()
	got, err := c.Normalize([]string{"images-view", "containers-view", "images-view"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"containers-view", "images-view"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := c.Normalize([]string{"containers-view", "root"}); keyward.ErrorCode(err) != keyward.EINVALID ||
		!strings.Contains(keyward.ErrorMessage(err), `"root"`) {
		t.Fatalf("unknown permission: got %v", err)
	}
	if got := c.Filter([]string{"gone", "dns-view"}); !slices.Equal(got, []string{"dns-view"}) {
		t.Fatalf("Filter kept %v", got)
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	err := keyward.Errorf(keyward.ENOTFOUND, "No such key.")
	if keyward.ErrorCode(err) != keyward.ENOTFOUND || keyward.ErrorMessage(err) != "No such key." {
		t.Fatalf("got %q %q", keyward.ErrorCode(err), keyward.ErrorMessage(err))
	}
	internal := errSecret("dial tcp 10.0.0.1: password=hunter2")
	if keyward.ErrorCode(internal) != keyward.EINTERNAL || strings.Contains(keyward.ErrorMessage(internal), "hunter2") {
		t.Fatalf("an internal error must have a generic message, got %q", keyward.ErrorMessage(internal))
	}
	if keyward.ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
}

type errSecret string

func (e errSecret) Error() string { return string(e) }

func TestRandomBase62IsUniformAlphabet(t *testing.T) {
	s, err := keyward.RandomBase62(strings.NewReader(strings.Repeat("\xff\x00\x3d\x3e", 64)), 20)
	if err != nil {
		t.Fatal(err)
	}
	// 0xff is rejected; 0x00 → '0', 0x3d (61) → 'z', 0x3e (62) → '0'.
	if want := strings.Repeat("0z0", 7)[:20]; s != want {
		t.Fatalf("got %q, want %q", s, want)
	}
	if _, err := keyward.NewID(strings.NewReader(""), keyward.PrefixUser); err == nil {
		t.Fatal("NewID succeeded without randomness")
	}
}

func TestAPIKeyAllowsIP(t *testing.T) {
	k := &keyward.APIKey{}
	if !k.AllowsIP(netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("a key without ips must allow any address")
	}
	k.IPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "2001:db8::1": true, "2001:db9::1": false,
	} {
		if got := k.AllowsIP(netip.MustParseAddr(addr)); got != want {
			t.Errorf("AllowsIP(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestCycleCatalog: the built-in cycle catalog parses strictly (so it has no duplicate and every
// name is lower-kebab-case), describes every permission, holds keyward's management permissions
// and the projects ones, and names Cycle's capabilities as Cycle does.
func TestCycleCatalog(t *testing.T) {
	f, err := os.Open("catalog_cycle.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := keyward.ParseCatalog(f)
	if err != nil {
		t.Fatalf("catalog_cycle.json: %v", err)
	}
	if !slices.Equal(c.All(), keyward.CycleCatalog().All()) {
		t.Error("CycleCatalog differs from catalog_cycle.json")
	}
	if missing := c.MissingManagement(); len(missing) > 0 {
		t.Errorf("cycle catalog lacks %v", missing)
	}
	for _, name := range []string{"projects-view", "projects-manage", "containers-deploy", "environments-scopedvariables-manage",
		"pipelines-trigger", "dns-certs-view", "billing-invoices-pay", "hubs-roles-manage", "security-view", "stacks-builds-deploy"} {
		if !c.Has(name) {
			t.Errorf("cycle catalog has no %s", name)
		}
	}
	seen := map[string]bool{}
	for _, p := range c.All() {
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
		if seen[strings.ToLower(p.Name)] {
			t.Errorf("%s appears twice", p.Name)
		}
		seen[p.Name] = true
	}
	if len(c.All()) < 60 {
		t.Errorf("cycle catalog has %d permissions, fewer than Cycle's capabilities", len(c.All()))
	}
}

// TestDefaultRoles: in both built-in catalogs a project starts with owner and admin holding
// everything, a developer who cannot administer members, the project or money, and a viewer
// who only views; the owner role alone is marked as such.
func TestDefaultRoles(t *testing.T) {
	for name, c := range map[string]*keyward.Catalog{"default": keyward.DefaultCatalog(), "cycle": keyward.CycleCatalog()} {
		roles := keyward.DefaultRoles(c)
		byName := map[string]*keyward.Role{}
		for _, r := range roles {
			byName[r.Name] = r
			if r.Owner != (r.Name == keyward.RoleOwner) {
				t.Errorf("%s: role %s has Owner %v", name, r.Name, r.Owner)
			}
			if _, err := c.Normalize(r.Permissions); err != nil || len(r.Permissions) == 0 || r.Description == "" {
				t.Errorf("%s: role %s holds %v (%v), description %q", name, r.Name, r.Permissions, err, r.Description)
			}
		}
		if roles[0].Name != keyward.RoleOwner || len(byName) != 4 {
			t.Fatalf("%s: roles %v, want owner first of owner, admin, developer, viewer", name, byName)
		}
		for _, r := range []string{"owner", "admin"} {
			if !slices.Equal(byName[r].Permissions, c.Names()) {
				t.Errorf("%s: %s holds %v, want every permission", name, r, byName[r].Permissions)
			}
		}
		dev := byName["developer"].Permissions
		for _, p := range []string{"projects-manage", "members-manage", "billing-manage", "billing-orders-manage", "hubs-delete", "hubs-members-manage"} {
			if slices.Contains(dev, p) {
				t.Errorf("%s: developer holds %s", name, p)
			}
		}
		for _, p := range []string{"containers-manage", "api-keys-manage", "api-keys-view", "members-view"} {
			if c.Has(p) && !slices.Contains(dev, p) {
				t.Errorf("%s: developer lacks %s", name, p)
			}
		}
		for _, p := range byName["viewer"].Permissions {
			if !strings.HasSuffix(p, "-view") {
				t.Errorf("%s: viewer holds %s", name, p)
			}
		}
		if !slices.Contains(byName["viewer"].Permissions, "containers-view") {
			t.Errorf("%s: viewer cannot view containers", name)
		}
	}
}
