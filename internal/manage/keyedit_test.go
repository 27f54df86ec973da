package manage_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/manage"
)

// TestUpdateKeyRules: an edit follows the rules of creation, never hands out more than the
// editor holds, and is audited with what changed.
func TestUpdateKeyRules(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	all := keyward.DefaultCatalog().Names()
	owner := f.open(f.caller("owner@example.com", "shop", all...), "shop")
	limited := f.open(f.caller("ops@example.com", "shop", "api-keys-view", "api-keys-manage", "containers-view"), "shop")
	stranger := f.open(f.caller("eve@example.com", "other", all...), "other")

	expires := f.now.Add(24 * time.Hour)
	strong, _, err := owner.CreateKey(ctx, manage.KeyInput{Name: "strong", IPs: []string{"10.0.0.0/8"},
		Permissions: []string{"containers-view", "containers-manage"}, ExpiresAt: &expires})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := owner.CreateKey(ctx, manage.KeyInput{Name: "taken", Permissions: []string{"containers-view"}}); err != nil {
		t.Fatal(err)
	}
	past := f.now.Add(-time.Second)
	later := f.now.Add(48 * time.Hour)
	for _, tt := range []struct {
		name  string
		a     *manage.Access
		in    manage.KeyChange
		field string
		code  string
	}{
		{"bad name", owner, manage.KeyChange{Name: new(" padded")}, "name", keyward.EINVALID},
		{"taken name", owner, manage.KeyChange{Name: new("taken")}, "name", keyward.ECONFLICT},
		{"bad network", owner, manage.KeyChange{IPs: &[]string{"10.0.0.0/33"}}, "ips", keyward.EINVALID},
		{"no permission", owner, manage.KeyChange{Permissions: &[]string{}}, "permissions", keyward.EINVALID},
		{"unknown permission", owner, manage.KeyChange{Permissions: &[]string{"root"}}, "permissions", keyward.EINVALID},
		{"expired", owner, manage.KeyChange{SetExpiresAt: true, ExpiresAt: &past}, "expires_at", keyward.EINVALID},
		{"permission not held", limited, manage.KeyChange{Permissions: &[]string{"containers-view", "containers-manage"}}, "permissions", keyward.EFORBIDDEN},
		{"networks widened beyond one's own", limited, manage.KeyChange{IPs: &[]string{}}, "ips", keyward.EFORBIDDEN},
		{"expiry cleared beyond one's own", limited, manage.KeyChange{SetExpiresAt: true}, "expires_at", keyward.EFORBIDDEN},
		{"expiry extended beyond one's own", limited, manage.KeyChange{SetExpiresAt: true, ExpiresAt: &later}, "expires_at", keyward.EFORBIDDEN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.a.UpdateKey(ctx, strong.ID, tt.in)
			var fe *manage.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || keyward.ErrorCode(err) != tt.code {
				t.Fatalf("UpdateKey = %v; want a %s field error on %q", err, tt.code, tt.field)
			}
		})
	}
	if _, err := owner.UpdateKey(ctx, strong.ID, manage.KeyChange{}); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("an empty change: %v", err)
	}
	if _, err := stranger.UpdateKey(ctx, strong.ID, manage.KeyChange{Name: new("mine")}); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("another project's key: %v", err)
	}
	got, err := owner.Key(ctx, strong.ID)
	if err != nil || got.Name != "strong" || got.Revision != 0 {
		t.Fatalf("after the refusals: %+v, %v", got, err)
	}

	// Narrowing a key one could not have created is allowed: it hands out nothing.
	sooner := f.now.Add(time.Hour)
	k, err := limited.UpdateKey(ctx, strong.ID, manage.KeyChange{Name: new("narrowed"),
		Permissions: &[]string{"containers-view"}, IPs: &[]string{"10.1.0.0/16"}, SetExpiresAt: true, ExpiresAt: &sooner})
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "narrowed" || strings.Join(k.Permissions, ",") != "containers-view" || !k.ExpiresAt.Equal(sooner) || k.SecretHash != nil {
		t.Errorf("edited key %+v", k)
	}
	// Now that it holds only what ops holds, ops may widen where and how long it works.
	if _, err := limited.UpdateKey(ctx, strong.ID, manage.KeyChange{IPs: &[]string{}, SetExpiresAt: true}); err != nil {
		t.Fatal(err)
	}
	events, _, err := owner.Audit(ctx, keyward.Page{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if e := events[1]; e.Action != keyward.AuditKeyUpdated || e.Target != "key:"+strong.ID ||
		e.Detail != `name="narrowed" ips=10.1.0.0/16 permissions=containers-view expires_at=2031-01-02T04:04:05Z sessions ended` {
		t.Errorf("audit of the narrowing: %+v", e)
	}
	if e := events[0]; e.Detail != "ips=any expires_at=never" {
		t.Errorf("audit of the widening: %+v", e)
	}
}
